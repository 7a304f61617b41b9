"""The composition root: turns validated settings into a wired application context."""

from __future__ import annotations

import logging
import logging.handlers
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from slidepacs.config import Settings, check_writable, mask_url
from slidepacs.domain.aes import RemoteAE
from slidepacs.domain.events import InstanceStored
from slidepacs.domain.forward_queue import RetryPolicy
from slidepacs.domain.forwarding import ForwardRule
from slidepacs.errors import ConfigError, IndexFailure
from slidepacs.index.database import ensure_schema, index_is_empty, open_engine
from slidepacs.index.direct import DirectReader
from slidepacs.index.frames import FrameFiles
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.accounts import AccountService, AuditService
from slidepacs.services.ae_registry import AERegistry
from slidepacs.services.certificates import TlsFiles, create_lab_pki, default_hosts
from slidepacs.services.echo import EchoOutcome, EchoService
from slidepacs.services.events import EventBus
from slidepacs.services.export import ExportService
from slidepacs.services.forward_rules import ForwardRules, rules_from_settings
from slidepacs.services.forward_worker import ForwardWorker
from slidepacs.services.forwarding import ForwardingService
from slidepacs.services.frames import FrameService
from slidepacs.services.image_rules import ImageRulesService
from slidepacs.services.importer import ImportService
from slidepacs.services.ingest import IngestService
from slidepacs.services.otp import OneTimeKeys
from slidepacs.services.overview import ArchiveOverview
from slidepacs.services.printing import PrintService
from slidepacs.services.quarantine import QuarantineService
from slidepacs.services.query import QueryService
from slidepacs.services.rendering import RenderService
from slidepacs.services.retrieve import RetrieveService
from slidepacs.services.scanner_events import ScannerEventService
from slidepacs.services.scanners import ScannerService
from slidepacs.services.series_images import SeriesImageService
from slidepacs.services.sessions import SessionService
from slidepacs.services.slide_gate import SlideGate
from slidepacs.services.slide_output import SVS_OUTPUT_QUEUE, SlideOutputs
from slidepacs.services.slide_view import SlideViewService
from slidepacs.services.storage_check import StorageCheckService
from slidepacs.services.study_list import StudyListService
from slidepacs.services.transcoding import TranscodeService
from slidepacs.storage import MirroredFileStore

if TYPE_CHECKING:  # the DICOM front (pynetdicom) is imported only by what starts it
    from slidepacs.dimse.print_scp import PrintServer
    from slidepacs.dimse.server import DimseServer
    from slidepacs.scanner.events import EventReceiver

LOG_FILE = "slidepacs.log"


@dataclass
class AppContext:
    """Everything a front needs: settings, services and the event bus."""

    settings: Settings
    engine: Engine
    direct: DirectReader
    unit_of_work: UnitOfWork
    store: MirroredFileStore
    bus: EventBus
    ingest: IngestService
    importer: ImportService
    exporter: ExportService
    storage_check: StorageCheckService
    query: QueryService
    retrieve: RetrieveService
    frames: FrameService
    registry: AERegistry
    forwarding: ForwardingService
    rules: ImageRulesService
    quarantine: QuarantineService
    slide_outputs: SlideOutputs
    rendering: RenderService
    transcoding: TranscodeService
    audit: AuditService
    accounts: AccountService
    sessions: SessionService
    one_time_keys: OneTimeKeys
    study_list: StudyListService
    echo: EchoService
    overview: ArchiveOverview
    series_images: SeriesImageService
    slide_view: SlideViewService
    printing: PrintService
    scanners: ScannerService
    scanner_events: ScannerEventService

    def close(self) -> None:
        """Release database connections."""
        self.direct.close()
        self.engine.dispose()


def check_locations(settings: Settings) -> None:
    """Every folder slidepacs writes to must be writable; raise ConfigError naming it."""
    check_writable("storage.data_path", settings.storage.data_path)
    for number, path in enumerate(settings.storage.backup_paths, start=1):
        check_writable(f"storage.backup_paths[{number}]", path)
    check_writable("log.path", settings.log_path)


def connect_index(settings: Settings) -> Engine:
    """Open the index database or raise ConfigError naming ``database.url``."""
    try:
        return open_engine(settings.database_url)
    except IndexFailure as exc:
        raise ConfigError("database.url", f"{exc} [{mask_url(settings.database_url)}]") from None


def build_context(settings: Settings, create_schema: bool = True) -> AppContext:
    """Check the settings against the machine and wire every service.

    Raises ConfigError for an unusable setting and MigrationRequired for an old index. A new,
    empty index is created only over empty storage: stored files without an index mean the
    index was lost (see docs/admin-guide.md), and starting would hide them.
    """
    config_rules = rules_from_settings(settings.forward)
    check_locations(settings)
    store = MirroredFileStore(settings.storage.locations)
    engine = connect_index(settings)
    try:
        if create_schema and index_is_empty(engine):
            _refuse_used_storage(settings, store)
        ensure_schema(engine, create_if_empty=create_schema)
    except BaseException:
        engine.dispose()
        raise
    unit_of_work = UnitOfWork(engine)
    bus = EventBus()
    ingest = IngestService(
        unit_of_work, store, bus, settings.storage.duplicate_policy, settings.character_set.default
    )
    registry = AERegistry(unit_of_work, settings.dicom.accept_unregistered)
    forwarding = _forwarding(settings, unit_of_work, store, bus, registry, config_rules)
    rules = ImageRulesService(unit_of_work)
    quarantine = QuarantineService(unit_of_work, store, rules, ingest)
    gate = SlideGate(rules, unit_of_work)
    ingest.use_slide_gate(gate, quarantine.keep)
    query = QueryService(unit_of_work)
    retrieve = RetrieveService(unit_of_work, store, settings.character_set.default)
    slide_outputs = SlideOutputs(rules, gate, settings.character_set.default,
                                 settings.storage.data_path / SVS_OUTPUT_QUEUE,
                                 retrieve=retrieve)
    bus.subscribe(InstanceStored, slide_outputs.on_instance_stored)
    direct = DirectReader(engine)
    audit = AuditService(unit_of_work)
    frames = FrameService(unit_of_work, store, files=FrameFiles(direct))
    accounts = AccountService(unit_of_work, audit)
    rendering = RenderService(retrieve, frames, query)
    scanners = ScannerService(unit_of_work, rules, audit, settings)
    bus.subscribe(InstanceStored, scanners.on_instance_stored)
    return AppContext(
        settings=settings,
        engine=engine,
        direct=direct,
        unit_of_work=unit_of_work,
        store=store,
        bus=bus,
        ingest=ingest,
        importer=ImportService(ingest, organization_of=rules.organization_of),
        exporter=ExportService(unit_of_work, store),
        storage_check=StorageCheckService(unit_of_work, store),
        query=query,
        retrieve=retrieve,
        frames=frames,
        registry=registry,
        forwarding=forwarding,
        rules=rules,
        quarantine=quarantine,
        slide_outputs=slide_outputs,
        rendering=rendering,
        transcoding=TranscodeService(frames),
        audit=audit,
        accounts=accounts,
        sessions=SessionService(accounts, audit, settings.http.session_idle_minutes * 60,
                                settings.http.session_hours * 3600),
        one_time_keys=OneTimeKeys(settings.http.otp_seconds),
        study_list=StudyListService(unit_of_work),
        echo=EchoService(registry, settings.dicom.ae_title, _send_echo),
        overview=ArchiveOverview(unit_of_work, store, quarantine, forwarding, audit),
        series_images=SeriesImageService(retrieve),
        slide_view=SlideViewService(query, retrieve, rendering),
        printing=PrintService(unit_of_work, audit, settings.print_queue_path, settings.print.dpi),
        scanners=scanners,
        scanner_events=ScannerEventService(
            unit_of_work, settings.event_log_path, settings.events.queue_events,
            settings.events.log_file_mb << 20, settings.events.log_files),
    )


def _send_echo(remote: RemoteAE, local_ae_title: str, timeout: float) -> EchoOutcome:
    """A C-ECHO through the DICOM front's SCU (pynetdicom is imported only when used)."""
    from slidepacs.dimse.scu import echo

    return echo(remote, local_ae_title, timeout)


def _forwarding(
    settings: Settings, unit_of_work: UnitOfWork, store: MirroredFileStore, bus: EventBus,
    registry: AERegistry, config_rules: tuple[ForwardRule, ...],
) -> ForwardingService:
    """The forwarding queue, fed by every stored instance (whatever process stores it)."""
    queue = settings.forwarding
    rules = ForwardRules(unit_of_work, registry, config_rules, settings.character_set.default)
    policy = RetryPolicy(queue.retry_base_seconds, queue.retry_max_seconds, queue.max_attempts)
    service = ForwardingService(unit_of_work, store, bus, rules, registry, policy)
    bus.subscribe(InstanceStored, service.on_instance_stored)
    return service


def build_forward_worker(app: AppContext) -> ForwardWorker:
    """The forwarding worker (started by ``serve``), sending with the local AE title."""
    queue = app.settings.forwarding
    from slidepacs.dimse.store_scu import StoreScu

    sender = StoreScu(app.settings.dicom.ae_title, queue.timeout_seconds)
    return ForwardWorker(app.forwarding, app.bus, sender, queue.workers, queue.batch_size)


def build_dimse_server(app: AppContext, slide_receiver: bool = True) -> DimseServer:
    """The DICOM front: the general listener and (unless disabled) the slide receiver."""
    from slidepacs.dimse.handlers import DimseHandlers, DimseServices
    from slidepacs.dimse.server import DimseServer, Listener

    settings = app.settings
    services = DimseServices(settings.dicom.ae_title, app.ingest, app.query, app.retrieve,
                             app.registry)
    dicom = settings.dicom
    listeners = [Listener("DICOM", dicom.ae_title, dicom.host, dicom.port, tls=(
        _tls_context(settings, "dicom.tls", dicom.require_client_certificate)
        if dicom.tls else None))]
    receiver = settings.slide_receiver
    if slide_receiver and receiver.enabled:
        listeners.append(Listener(
            "slide receiver", receiver.ae_title, receiver.host, receiver.port, storage_only=True,
            setting="slide_receiver", also_admits=app.scanners.admits,
            tls=(_tls_context(settings, "slide_receiver.tls", receiver.require_client_certificate)
                 if receiver.tls else None),
        ))
    return DimseServer(DimseHandlers(services), app.registry, listeners)


def build_print_server(app: AppContext) -> PrintServer:
    """The DICOM print server (its own AE title and port; AE registry rules apply)."""
    from slidepacs.dimse.print_scp import PrintServer

    settings = app.settings.print
    return PrintServer(app.printing, app.registry, settings.ae_title, settings.host,
                       settings.port)


def build_event_receiver(app: AppContext) -> EventReceiver:
    """The scanner event receiver: plain and (unless its port is 0) TLS listeners."""
    from slidepacs.scanner.events import EventReceiver

    events = app.settings.events
    tls = _tls_context(app.settings, "events.tls_port", False) if events.tls_port else None
    return EventReceiver(app.scanner_events, events, tls)


def tls_files(settings: Settings) -> tuple[Path, Path, Path]:
    """(certificate, key, CA) for TLS listeners: configured files, else the lab PKI's."""
    lab = TlsFiles(settings.tls_folder)
    return (settings.tls.certificate or lab.server_certificate, settings.tls.key or lab.server_key,
            settings.tls.ca or lab.ca)


def ensure_lab_pki(settings: Settings) -> bool:
    """Create the lab PKI on first start when a TLS listener needs it; True if created."""
    wants_tls = (settings.dicom.tls or (settings.slide_receiver.enabled and settings.slide_receiver.tls)
                 or (settings.http.enabled and settings.http.tls)
                 or (settings.scanner_api.enabled and settings.scanner_api.tls)
                 or (settings.events.enabled and settings.events.tls_port != 0))
    lab = TlsFiles(settings.tls_folder)
    if not wants_tls or not settings.tls_uses_lab_pki or lab.complete():
        return False
    create_lab_pki(lab, default_hosts(), overwrite=True)
    logging.getLogger(__name__).info("created a lab CA and certificates in %s", lab.folder)
    return True


def _tls_context(settings: Settings, setting: str, require_client: bool) -> ssl.SSLContext:
    certificate, key, ca = tls_files(settings)
    from slidepacs.dimse.tls import server_context

    return server_context(setting, certificate, key, ca, require_client)


def _refuse_used_storage(settings: Settings, store: MirroredFileStore) -> None:
    used = store.locations_with_files()
    if used:
        raise ConfigError("database.url", (
            f"the index is empty but {used[0]} already holds stored files; restore the index "
            "from its backup (see docs/admin-guide.md) or use empty storage folders "
            f"[{mask_url(settings.database_url)}]"
        ))


def configure_logging(settings: Settings, console: bool = False) -> None:
    """Log to a rotating file under the log path (and optionally the console)."""
    root = logging.getLogger()
    root.setLevel(settings.log.level.value)
    for handler in list(root.handlers):
        if getattr(handler, "_slidepacs", False):
            root.removeHandler(handler)
    file_handler = logging.handlers.RotatingFileHandler(
        settings.log_path / LOG_FILE, maxBytes=20 << 20, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handlers: list[logging.Handler] = [file_handler]
    if console:
        handlers.append(logging.StreamHandler())
    for handler in handlers:
        handler._slidepacs = True  # type: ignore[attr-defined]
        root.addHandler(handler)
