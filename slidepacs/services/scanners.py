"""The scanner registry and what scanners do through the scanner API (docs/scanner-api.md):
authenticate by token, pull their configuration, send heartbeats, post image metadata.

A scanner's "Images" settings are its destination (in its registry row) plus the image rules
of its calling AE title (kept by :class:`ImageRulesService`, so they apply to every slide it
stores). Its configuration version is its settings version plus its rules version: both only
go up, so every change an administrator makes gives a new ETag.

Metadata is joined to its slide whichever arrives first: when posted, to the indexed slide
with that image ID from the scanner's AE (else with that barcode); when the slide's first
instance is stored later, by :meth:`ScannerService.on_instance_stored`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any

from slidepacs.config import Settings
from slidepacs.dicom.header import WSI_SOP_CLASS
from slidepacs.domain.aes import checked_ae_title
from slidepacs.domain.events import InstanceStored
from slidepacs.domain.image_rules import ImageRuleSpec
from slidepacs.domain.scanners import (
    Destination,
    ImageSettings,
    Scanner,
    SlideMetadata,
    checked_scanner_name,
    checked_text,
    config_document,
    parse_heartbeat,
    parse_metadata,
)
from slidepacs.domain.tokens import new_token, token_digest
from slidepacs.errors import InvalidInput, NotAuthenticated, NotFound
from slidepacs.index.repository import IndexRepository
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.accounts import SYSTEM, AuditService
from slidepacs.services.image_rules import ImageRulesService, RuleChanges

log = logging.getLogger(__name__)
API_ACTOR = "scanner-api"  # the audit actor of an unauthenticated scanner API request
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class ScannerStatus:
    """A scanner and whether it is ONLINE or OFFLINE now."""

    scanner: Scanner
    status: str


@dataclass(frozen=True, slots=True)
class NewScanner:
    """A scanner to register; empty destination fields take the slide receiver's."""

    name: str
    ae_title: str
    model: str = ""
    serial: str = ""
    hostname: str = ""
    port: int | None = None
    title: str = ""


class ScannerService:
    """Registers scanners and serves the scanner API; every administrative change is
    audited."""

    def __init__(self, unit_of_work: UnitOfWork, rules: ImageRulesService,
                 audit: AuditService, settings: Settings, clock: Clock = _utc_now) -> None:
        self._uow = unit_of_work
        self._rules = rules
        self._audit = audit
        self._settings = settings
        self._clock = clock

    # -- registry ----------------------------------------------------------------------------
    def register(self, new: NewScanner, actor: str = SYSTEM,
                 address: str = "") -> tuple[Scanner, str]:
        """Register a scanner; returns it and its token (shown once: only its digest is
        kept). InvalidInput names the bad field; Conflict if the name or AE title is taken."""
        receiver = self._settings.slide_receiver
        destination = Destination.create(new.hostname, new.port or receiver.port,
                                         new.title or receiver.ae_title)
        scanner = Scanner(checked_scanner_name(new.name), _checked_title(new.ae_title),
                          checked_text("model", new.model), checked_text("serial", new.serial),
                          destination=destination)
        token, digest = new_token()
        with self._uow.write() as repo:
            added = repo.scanners.add(scanner, digest, self._clock())
            repo.audit.add(actor, "scanner.add", added.name, f"AE {added.ae_title}", address)
        log.info("scanner %s registered (AE %s)", added.name, added.ae_title)
        return added, token

    def scanners(self) -> list[ScannerStatus]:
        """Every scanner with its status."""
        with self._uow.read() as repo:
            found = repo.scanners.all()
        return [self._with_status(item) for item in found]

    def show(self, name: str) -> ScannerStatus:
        """One scanner with its status; NotFound if there is none of that name."""
        with self._uow.read() as repo:
            return self._with_status(_existing(repo, name))

    def remove(self, name: str, actor: str = SYSTEM, address: str = "") -> None:
        """Unregister a scanner (its image rules stay with its AE title)."""
        with self._uow.write() as repo:
            scanner = _existing(repo, name)
            repo.scanners.remove(scanner.name)
            repo.audit.add(actor, "scanner.remove", scanner.name, "", address)

    def new_token(self, name: str, actor: str = SYSTEM, address: str = "") -> str:
        """A new token for a scanner (the old one stops working at once); shown once."""
        token, digest = new_token()
        with self._uow.write() as repo:
            scanner = _existing(repo, name)
            repo.scanners.set_token(scanner.name, digest)
            repo.audit.add(actor, "scanner.token", scanner.name, "new token", address)
        return token

    def authenticate(self, token: str | None, address: str = "") -> Scanner:
        """The scanner this token belongs to (its contact time is recorded);
        NotAuthenticated, audited with the address, for a missing or wrong token."""
        digest = token_digest(token) if token else ""
        with self._uow.write() as repo:
            scanner = repo.scanners.by_token(digest) if digest else None
            if scanner is not None:
                repo.scanners.record_contact(scanner.pk, self._clock(), address)
            else:
                repo.audit.add(API_ACTOR, "scanner.auth_failed", "",
                               "wrong token" if token else "no token", address)
        if scanner is None:
            log.warning("scanner API: %s token from %s", "wrong" if token else "no", address)
            raise NotAuthenticated("a valid scanner token is required (Authorization: Bearer)")
        return scanner

    def admits(self, calling_ae_title: str, peer_address: str) -> bool:
        """May a slide-receiver association from this AE title at this address proceed?
        Yes when the title is a registered scanner's and the address is the one its last
        authenticated API request came from: the token vouches for the DICOM link too."""
        if not peer_address:
            return False
        with self._uow.read() as repo:
            known = repo.scanners.by_ae_title(calling_ae_title.strip())
        return known is not None and known.last_address == peer_address

    # -- images settings and configuration ---------------------------------------------------
    def images(self, name: str) -> ImageSettings:
        """A scanner's "Images" settings."""
        with self._uow.read() as repo:
            scanner = _existing(repo, name)
            return _settings_of(repo, scanner)

    def update_images(self, name: str, changes: dict[str, Any], actor: str = SYSTEM,
                      address: str = "") -> tuple[ImageSettings, int]:
        """Change a scanner's "Images" settings (wire names; None keeps a value). Everything
        is validated first: InvalidInput names the field and nothing is saved. Returns the
        settings as saved and the new configuration version."""
        with self._uow.read() as repo:
            scanner = _existing(repo, name)
            before = _settings_of(repo, scanner)
        after = before.changed(changes)
        if after.rules != before.rules:
            self._rules.set(scanner.ae_title, _rule_changes(scanner.name, after.rules))
        if after.destination != before.destination:
            with self._uow.write() as repo:
                repo.scanners.set_destination(scanner.name, after.destination)
        diff = _diff(before.document(), after.document())
        if diff:
            self._audit.record(actor, "scanner.images", scanner.name, diff, address)
        return after, self.config_version(scanner.name)

    def config_version(self, name: str) -> int:
        """The scanner's configuration version (settings version + image rules version)."""
        with self._uow.read() as repo:
            scanner = _existing(repo, name)
            return _version(repo, scanner)

    def config(self, scanner: Scanner) -> dict[str, Any]:
        """The configuration document a scanner pulls (docs/scanner-api.md)."""
        with self._uow.read() as repo:
            current = _existing(repo, scanner.name)
            settings, version = _settings_of(repo, current), _version(repo, current)
        events = self._settings.events
        return config_document(
            current, settings, version, self._settings.slide_receiver.host,
            {"hostname": events.host, "port": events.port if events.enabled else 0,
             "tls_port": events.tls_port if events.enabled else 0},
            self._settings.scanner_api.heartbeat_seconds)

    # -- heartbeats and metadata -------------------------------------------------------------
    def heartbeat(self, scanner: Scanner, body: Any, address: str = "") -> dict[str, Any]:
        """Record a heartbeat (contact, clock skew, reported state and identity); the
        answer of ``POST /heartbeat``. InvalidInput names a bad field."""
        beat = parse_heartbeat(body)
        now = self._clock()
        skew = beat.skew_seconds(now)
        with self._uow.write() as repo:
            repo.scanners.record_contact(
                scanner.pk, now, address, skew, state=beat.state, model=beat.model,
                serial=beat.serial, software_version=beat.software_version)
            version = _version(repo, _existing(repo, scanner.name))
        return {"time": now.isoformat(), "config_version": version, "clock_skew_seconds": skew}

    def post_metadata(self, scanner: Scanner, body: Any) -> dict[str, Any]:
        """Keep a slide's metadata (replacing what the scanner posted before for that image
        ID) and join it to its slide if the slide is indexed; the answer of
        ``POST /images``."""
        posted = parse_metadata(body)
        now = self._clock()
        with self._uow.write() as repo:
            pk = repo.scanners.save_metadata(scanner.pk, posted, now)
            slide = (repo.scanners.slide_by_image_id(scanner.ae_title, posted.image_id)
                     or repo.scanners.slide_by_barcode(posted.barcode))
            if slide is not None:
                repo.scanners.join(pk, slide[0], slide[1], now)
        study, series = slide or ("", "")
        return {"image_id": posted.image_id, "joined": slide is not None,
                "study_instance_uid": study or None, "series_instance_uid": series or None}

    def on_instance_stored(self, event: InstanceStored) -> None:
        """Join metadata that waits for this slide. Nothing for an instance that is not a
        whole slide from a sender; one indexed read otherwise, and a write only when
        metadata waits."""
        if event.sop_class_uid != WSI_SOP_CLASS or not event.sender:
            return
        with self._uow.read() as repo:  # most instances find none: no write lock for them
            waiting = repo.scanners.waiting(event.sender, event.series_instance_uid)
        if not waiting:
            return
        with self._uow.write() as repo:
            joined = repo.scanners.join_waiting(event.sender, event.study_instance_uid,
                                                event.series_instance_uid, self._clock())
        if joined:
            log.info("joined scanner metadata to slide %s", event.series_instance_uid)

    def metadata_of_series(self, series_uid: str) -> list[SlideMetadata]:
        """The scanner metadata joined to a slide's series."""
        with self._uow.read() as repo:
            return repo.scanners.metadata_of_series(series_uid)

    def metadata(self, name: str, image_id: str) -> SlideMetadata:
        """What a scanner posted for one image ID; NotFound if nothing."""
        with self._uow.read() as repo:
            found = repo.scanners.metadata(_existing(repo, name).pk, image_id)
        if found is None:
            raise NotFound(f"scanner {name!r} posted no metadata for image ID {image_id!r}")
        return found

    def _with_status(self, scanner: Scanner) -> ScannerStatus:
        timeout = self._settings.scanner_api.heartbeat_timeout_seconds
        return ScannerStatus(scanner, scanner.status(self._clock(), timeout))


def _existing(repo: IndexRepository, name: str) -> Scanner:
    scanner = repo.scanners.get(name)
    if scanner is None:
        raise NotFound(f"no scanner {name.strip()!r} (see slidepacs scanner list)")
    return scanner


def _checked_title(value: str) -> str:
    try:
        return checked_ae_title(value)
    except InvalidInput as exc:
        raise InvalidInput(f"ae_title: {exc}") from None


def _settings_of(repo: IndexRepository, scanner: Scanner) -> ImageSettings:
    stored = repo.image_rules.rules(scanner.ae_title)
    return ImageSettings(scanner.destination, stored.spec if stored else ImageRuleSpec())


def _version(repo: IndexRepository, scanner: Scanner) -> int:
    stored = repo.image_rules.rules(scanner.ae_title)
    return scanner.settings_version + (stored.version if stored else 0)


def _rule_changes(scanner: str, spec: ImageRuleSpec) -> RuleChanges:
    return RuleChanges(scanner=scanner, **{item.name: getattr(spec, item.name)
                                           for item in fields(ImageRuleSpec)})


def _diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    return "; ".join(f"{name} {before[name]!r} -> {after[name]!r}" for name in after
                     if before[name] != after[name])
