"""The DICOM print server: Basic Grayscale and Basic Color Print Management SCP (PS3.4 H).

Its own listener (AE title and port from ``[print]``). An association holds one Basic Film
Session, its Film Boxes (each creating its Image Boxes per the layout) and Presentation LUTs;
N-ACTION print on a Film Box or the Film Session renders the films through the print service.
State lives only as long as the association; a job exists once its files are written.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    PresentationLUT,
    Printer,
    PrinterInstance,
    PrintJob,
    Verification,
)

from slidepacs import __version__
from slidepacs.domain.film import (
    FILM_DESTINATIONS,
    MAGNIFICATIONS,
    MEDIUM_TYPES,
    POLARITIES,
    PRIORITIES,
    FilmSpec,
    check_choice,
    film_spec,
)
from slidepacs.errors import ConfigError, InvalidInput, SlidepacsError
from slidepacs.imaging.film_render import BoxImage, preformatted_pixels
from slidepacs.services.ae_registry import AERegistry
from slidepacs.services.printing import FilmToPrint, PrintService

log = logging.getLogger(__name__)

# PS3.7 C / PS3.4 H statuses
SUCCESS = 0x0000
PROCESSING_FAILURE = 0x0110
DUPLICATE_INSTANCE = 0x0111
NO_SUCH_INSTANCE = 0x0112
NO_SUCH_ACTION = 0x0123
INVALID_VALUE = 0x0106
MISSING_ATTRIBUTE = 0x0120
CLASS_INSTANCE_CONFLICT = 0x0119
NO_SUCH_CLASS = 0x0118
EMPTY_PAGE = 0xB603  # warning: Film Box has no image (nothing printed)
NO_FILM_BOX = 0xC600  # failure: the Film Session has no Film Box
FILM_BOX_NOT_PRINTED = 0xC616  # failure: an earlier Film Box has not been printed

FILM_SESSION_ATTRIBUTES = ("NumberOfCopies", "PrintPriority", "MediumType", "FilmDestination",
                           "FilmSessionLabel", "OwnerID")
FILM_BOX_ATTRIBUTES = ("ImageDisplayFormat", "FilmOrientation", "FilmSizeID",
                       "MagnificationType", "SmoothingType", "BorderDensity",
                       "EmptyImageDensity", "MinDensity", "MaxDensity", "Trim",
                       "ConfigurationInformation", "RequestedResolutionID", "Illumination",
                       "ReflectedAmbientLight")


@dataclass
class FilmBoxState:
    """One Film Box of the session and the images set so far."""

    uid: str
    spec: FilmSpec
    attributes: Dataset
    image_boxes: dict[str, int]  # image box UID → position
    images: dict[int, BoxImage] = field(default_factory=dict)
    printed: bool = False
    lut: str | None = None  # referenced Presentation LUT UID


@dataclass
class SessionState:
    """Print objects of one association."""

    colour: bool
    session_uid: str | None = None
    session: Dataset = field(default_factory=Dataset)
    film_boxes: dict[str, FilmBoxState] = field(default_factory=dict)
    luts: dict[str, str] = field(default_factory=dict)  # UID → PresentationLUTShape
    jobs: dict[str, Any] = field(default_factory=dict)  # Print Job UID → PrintJob

    def image_box(self, uid: str) -> tuple[FilmBoxState, int] | None:
        for film in self.film_boxes.values():
            if uid in film.image_boxes:
                return film, film.image_boxes[uid]
        return None


class PrintHandlers:
    """The N-service handlers, with per-association state."""

    def __init__(self, printing: PrintService, ae_title: str) -> None:
        self._printing = printing
        self._ae_title = ae_title
        self._states: dict[int, SessionState] = {}
        self._lock = threading.Lock()

    def bindings(self) -> list[tuple[Any, Any]]:
        """(event, handler) pairs for pynetdicom."""
        return [(evt.EVT_N_CREATE, self.on_create), (evt.EVT_N_SET, self.on_set),
                (evt.EVT_N_ACTION, self.on_action), (evt.EVT_N_DELETE, self.on_delete),
                (evt.EVT_N_GET, self.on_get), (evt.EVT_RELEASED, self._forget),
                (evt.EVT_ABORTED, self._forget), (evt.EVT_CONN_CLOSE, self._forget)]

    # state
    def _state(self, event: Any) -> SessionState:
        colour = event.context.abstract_syntax == BasicColorPrintManagementMeta
        with self._lock:
            state = self._states.get(id(event.assoc))
            if state is None:
                state = self._states[id(event.assoc)] = SessionState(colour)
            return state

    def _forget(self, event: Any) -> None:
        with self._lock:
            self._states.pop(id(event.assoc), None)

    # N-CREATE
    def on_create(self, event: Any) -> tuple[int, Dataset | None]:
        """Film Session, Film Box or Presentation LUT."""
        request = event.request
        sop_class = request.AffectedSOPClassUID
        uid = str(request.AffectedSOPInstanceUID or generate_uid())
        assign = request.AffectedSOPInstanceUID is None  # the reply carries the new UID
        state = self._state(event)
        attributes = event.attribute_list
        try:
            if sop_class == BasicFilmSession:
                status, reply = self._create_session(state, uid, attributes)
                return status, _with_uid(reply, uid, assign)
            if sop_class == BasicFilmBox:
                status, reply = self._create_film_box(state, uid, attributes)
                return status, _with_uid(reply, uid, assign)
            if sop_class == PresentationLUT:
                shape = str(attributes.get("PresentationLUTShape", "IDENTITY")).upper()
                if shape not in ("IDENTITY", "INVERSE", "LIN OD"):
                    log.info("print: unsupported Presentation LUT shape %r", shape)
                    return INVALID_VALUE, None
                state.luts[uid] = shape
                reply = Dataset()
                reply.PresentationLUTShape = shape
                return SUCCESS, _with_uid(reply, uid, assign)
        except InvalidInput as exc:
            log.info("print: N-CREATE refused: %s", exc)
            return INVALID_VALUE, None
        return NO_SUCH_CLASS, None

    def _create_session(self, state: SessionState, uid: str,
                        attributes: Dataset) -> tuple[int, Dataset | None]:
        if state.session_uid is not None:
            return DUPLICATE_INSTANCE, None
        session = _session_attributes(attributes, Dataset())
        state.session_uid, state.session = uid, session
        return SUCCESS, _copy(session)

    def _create_film_box(self, state: SessionState, uid: str,
                         attributes: Dataset) -> tuple[int, Dataset | None]:
        if state.session_uid is None:
            log.info("print: Film Box N-CREATE without a Film Session")
            return NO_SUCH_INSTANCE, None
        references = attributes.get("ReferencedFilmSessionSequence")
        if references and references[0].get("ReferencedSOPInstanceUID") != state.session_uid:
            return INVALID_VALUE, None
        if "ImageDisplayFormat" not in attributes:
            return MISSING_ATTRIBUTE, None
        spec = film_spec(_values(attributes, FILM_BOX_ATTRIBUTES))
        polarity = _polarity(attributes)
        box_class = BasicColorImageBox if state.colour else BasicGrayscaleImageBox
        image_boxes = {str(generate_uid()): position
                       for position in range(1, len(spec.boxes) + 1)}
        film_attributes = _copy_keywords(attributes, FILM_BOX_ATTRIBUTES + ("Polarity",))
        if polarity:
            film_attributes.Polarity = polarity
        lut = _referenced_lut(attributes, state)
        state.film_boxes[uid] = FilmBoxState(uid, spec, film_attributes, image_boxes, lut=lut)
        reply = _copy(film_attributes)
        reply.ImageDisplayFormat = spec.display_format
        reply.FilmSizeID = spec.film_size
        reply.FilmOrientation = spec.orientation
        reply.MagnificationType = spec.magnification
        reply.ReferencedFilmSessionSequence = [_reference(BasicFilmSession, state.session_uid)]
        reply.ReferencedImageBoxSequence = [_reference(box_class, box_uid)
                                           for box_uid in image_boxes]
        if lut:
            reply.ReferencedPresentationLUTSequence = [_reference(PresentationLUT, lut)]
        return SUCCESS, reply

    # N-SET
    def on_set(self, event: Any) -> tuple[int, Dataset | None]:
        """Image Box (the pixels), Film Box or Film Session attributes."""
        request = event.request
        uid = str(request.RequestedSOPInstanceUID)
        sop_class = request.RequestedSOPClassUID
        state = self._state(event)
        changes = event.modification_list
        try:
            if sop_class in (BasicGrayscaleImageBox, BasicColorImageBox):
                found = state.image_box(uid)
                if found is None:
                    log.info("print: Image Box N-SET for unknown instance %s", uid)
                    return NO_SUCH_INSTANCE, None
                wanted = BasicColorImageBox if state.colour else BasicGrayscaleImageBox
                if sop_class != wanted:
                    return CLASS_INSTANCE_CONFLICT, None
                film, position = found
                return self._set_image(state, film, position, changes)
            if sop_class == BasicFilmBox:
                film = state.film_boxes.get(uid)
                if film is None:
                    return NO_SUCH_INSTANCE, None
                if "ImageDisplayFormat" in changes:
                    return INVALID_VALUE, None  # the boxes exist already
                film.spec = film_spec(_values(changes, FILM_BOX_ATTRIBUTES), film.spec)
                for element in _copy_keywords(changes, FILM_BOX_ATTRIBUTES):
                    film.attributes.add(element)
                polarity = _polarity(changes)
                if polarity:
                    film.attributes.Polarity = polarity
                return SUCCESS, _copy(film.attributes)
            if sop_class == BasicFilmSession:
                if uid != state.session_uid:
                    return NO_SUCH_INSTANCE, None
                state.session = _session_attributes(changes, state.session)
                return SUCCESS, _copy(state.session)
        except InvalidInput as exc:
            log.info("print: N-SET refused: %s", exc)
            return INVALID_VALUE, None
        return NO_SUCH_CLASS, None

    def _set_image(self, state: SessionState, film: FilmBoxState, position: int,
                   changes: Dataset) -> tuple[int, Dataset | None]:
        keyword = ("BasicColorImageSequence" if state.colour
                   else "BasicGrayscaleImageSequence")
        given = changes.get("ImageBoxPosition")
        if given is not None and int(given) != position:
            raise InvalidInput(f"ImageBoxPosition {given} is not this box's ({position})")
        polarity = _polarity(changes) or str(film.attributes.get("Polarity", "NORMAL"))
        magnification = check_choice("MagnificationType", changes.get("MagnificationType"),
                                     MAGNIFICATIONS)
        sequence = changes.get(keyword)
        if not sequence:
            if keyword in changes:  # an empty sequence empties the box
                film.images.pop(position, None)
                return SUCCESS, None
            return MISSING_ATTRIBUTE, None
        item = sequence[0]
        try:
            pixels = preformatted_pixels(
                int(item.Rows), int(item.Columns), int(item.get("SamplesPerPixel", 1)),
                int(item.get("BitsAllocated", 8)), int(item.get("BitsStored", 8)),
                str(item.get("PhotometricInterpretation", "MONOCHROME2")),
                bytes(item.PixelData), int(item.get("PlanarConfiguration", 0) or 0))
        except AttributeError as exc:
            raise InvalidInput(f"image box item lacks {exc}") from None
        film.images[position] = BoxImage(pixels, polarity, magnification)
        return SUCCESS, None

    # N-ACTION
    def on_action(self, event: Any) -> tuple[int, Dataset | None]:
        """Print (action type 1) a Film Box or the whole Film Session."""
        request = event.request
        uid = str(request.RequestedSOPInstanceUID)
        sop_class = request.RequestedSOPClassUID
        state = self._state(event)
        if event.action_type != 1:
            return NO_SUCH_ACTION, None
        if sop_class == BasicFilmBox:
            film = state.film_boxes.get(uid)
            if film is None:
                return NO_SUCH_INSTANCE, None
            films = [film]
        elif sop_class == BasicFilmSession:
            if uid != state.session_uid:
                return NO_SUCH_INSTANCE, None
            if not state.film_boxes:
                return NO_FILM_BOX, None
            films = list(state.film_boxes.values())
        else:
            return NO_SUCH_CLASS, None
        films = [film for film in films if film.images]
        if not films:
            log.info("print: N-ACTION on empty film box(es); nothing printed")
            return EMPTY_PAGE, None
        requestor = event.assoc.requestor
        copies = max(1, int(state.session.get("NumberOfCopies", 1) or 1))
        try:
            job = self._printing.print_films(
                [FilmToPrint(film.uid, film.spec, _with_lut(film, state))
                 for film in films for _ in range(copies)],
                state.colour, str(requestor.ae_title).strip(), str(requestor.address))
        except SlidepacsError as exc:
            log.error("print: rendering failed: %s", exc)
            return PROCESSING_FAILURE, None
        for film in films:
            film.printed = True
        state.jobs[job.job_uid] = job
        self._report_done(event.assoc, job)
        reply = Dataset()
        reply.ReferencedPrintJobSequence = [_reference(PrintJob, job.job_uid)]
        return SUCCESS, reply

    def _report_done(self, assoc: Any, job: Any) -> None:
        """Report the job DONE (N-EVENT-REPORT, event type 3) when the SCU accepted the Print
        Job SOP class (PS3.4 H.4.4). Sent from the N-ACTION handler, before its response:
        the SCU is then waiting and sends nothing else, so the event report's response cannot
        be confused with another request (sending after the response races with the SCU's
        next request in pynetdicom's acceptor)."""
        if not any(context.abstract_syntax == PrintJob for context in assoc.accepted_contexts):
            return
        info = Dataset()
        info.ExecutionStatusInfo = "NORMAL"
        info.PrinterName = self._ae_title
        try:
            assoc.send_n_event_report(info, 3, PrintJob, job.job_uid)
        except (RuntimeError, ValueError) as exc:
            log.info("print: job %s: N-EVENT-REPORT not sent (%s)", job.job_uid, exc)

    # N-DELETE
    def on_delete(self, event: Any) -> int:
        """Delete the Film Session (and everything under it), a Film Box or a LUT."""
        request = event.request
        uid = str(request.RequestedSOPInstanceUID)
        sop_class = request.RequestedSOPClassUID
        state = self._state(event)
        if sop_class == BasicFilmSession:
            if uid != state.session_uid:
                return NO_SUCH_INSTANCE
            state.session_uid, state.session = None, Dataset()
            state.film_boxes.clear()
            return SUCCESS
        if sop_class == BasicFilmBox:
            return SUCCESS if state.film_boxes.pop(uid, None) else NO_SUCH_INSTANCE
        if sop_class == PresentationLUT:
            return SUCCESS if state.luts.pop(uid, None) else NO_SUCH_INSTANCE
        return NO_SUCH_CLASS

    # N-GET
    def on_get(self, event: Any) -> tuple[int, Dataset | None]:
        """Printer status (the well-known Printer instance) and Print Job status."""
        request = event.request
        uid = str(request.RequestedSOPInstanceUID)
        sop_class = request.RequestedSOPClassUID
        if sop_class == Printer:
            if uid != PrinterInstance:
                return NO_SUCH_INSTANCE, None
            reply = Dataset()
            reply.PrinterStatus = "NORMAL"
            reply.PrinterStatusInfo = "NORMAL"
            reply.PrinterName = self._ae_title
            reply.Manufacturer = "slidepacs"
            reply.ManufacturerModelName = "slidepacs print server"
            reply.SoftwareVersions = __version__
            return SUCCESS, _only(reply, request.AttributeIdentifierList)
        if sop_class == PrintJob:
            job = self._state(event).jobs.get(uid)
            if job is None:
                return NO_SUCH_INSTANCE, None
            reply = Dataset()
            reply.ExecutionStatus = "DONE"
            reply.ExecutionStatusInfo = "NORMAL"
            reply.CreationDate = job.created_at.strftime("%Y%m%d")
            reply.CreationTime = job.created_at.strftime("%H%M%S")
            reply.PrinterName = self._ae_title
            reply.Originator = job.calling_ae
            return SUCCESS, _only(reply, request.AttributeIdentifierList)
        return NO_SUCH_CLASS, None


class PrintServer:
    """The print listener: its own AE title and port; the AE registry's rules apply."""

    def __init__(self, printing: PrintService, registry: AERegistry, ae_title: str, host: str,
                 port: int) -> None:
        self.ae_title, self.host, self.port = ae_title, host, port
        self._handlers = PrintHandlers(printing, ae_title)
        self._registry = registry
        self._server: Any = None

    def start(self) -> None:
        """Bind the port; ConfigError naming ``print.port`` if it cannot."""
        from slidepacs.dimse.server import MAX_PDU, RegistryAE

        ae: AE = RegistryAE(self.ae_title, self._registry)
        ae.maximum_pdu_size = MAX_PDU
        ae.require_called_aet = True
        ae.network_timeout = 120
        ae.acse_timeout = 30
        ae.dimse_timeout = 120
        for sop_class in (BasicGrayscalePrintManagementMeta, BasicColorPrintManagementMeta,
                          PresentationLUT, PrintJob, Printer, Verification):
            ae.add_supported_context(sop_class)
        try:
            self._server = ae.start_server((self.host, self.port), block=False,
                                           evt_handlers=self._handlers.bindings())
        except OSError as exc:
            raise ConfigError("print.port", f"cannot listen on {self.host}:{self.port} "
                              f"({exc.strerror})") from None
        log.info("print server listening as %s on %s:%d", self.ae_title, self.host, self.port)

    def describe(self) -> list[str]:
        """The banner line."""
        return [f"{'print server':<14}{self.ae_title} on {self.host}:{self.port} — Basic "
                "Grayscale/Color Print Management"]

    def stop(self) -> None:
        """Stop listening and end the associations."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None


def _values(dataset: Dataset, keywords: tuple[str, ...]) -> dict[str, object]:
    return {keyword: dataset.get(keyword) for keyword in keywords if keyword in dataset}


def _copy_keywords(dataset: Dataset, keywords: tuple[str, ...]) -> Dataset:
    copy = Dataset()
    for keyword in keywords:
        if keyword in dataset:
            setattr(copy, keyword, dataset.get(keyword))
    return copy


def _copy(dataset: Dataset) -> Dataset:
    copy = Dataset()
    copy.update(dataset)
    return copy


def _session_attributes(changes: Dataset, session: Dataset) -> Dataset:
    """Validated Film Session attributes merged into ``session``; InvalidInput if bad."""
    copies = changes.get("NumberOfCopies")
    if copies not in (None, "") and not 1 <= int(copies) <= 99:
        raise InvalidInput(f"NumberOfCopies {copies} (1-99)")
    for keyword, allowed in (("PrintPriority", PRIORITIES), ("MediumType", MEDIUM_TYPES),
                             ("FilmDestination", FILM_DESTINATIONS)):
        value = changes.get(keyword)
        if keyword == "FilmDestination" and str(value or "").upper().startswith("BIN_"):
            continue
        check_choice(keyword, value, allowed)
    merged = _copy(session)
    merged.update(_copy_keywords(changes, FILM_SESSION_ATTRIBUTES))
    return merged


def _polarity(dataset: Dataset) -> str | None:
    return check_choice("Polarity", dataset.get("Polarity"), POLARITIES)


def _referenced_lut(attributes: Dataset, state: SessionState) -> str | None:
    sequence = attributes.get("ReferencedPresentationLUTSequence")
    if not sequence:
        return None
    uid = str(sequence[0].get("ReferencedSOPInstanceUID", ""))
    if uid not in state.luts:
        raise InvalidInput(f"Presentation LUT {uid} does not exist")
    return uid


def _with_lut(film: FilmBoxState, state: SessionState) -> dict[int, BoxImage]:
    """The film's images with its Presentation LUT applied: INVERSE swaps each image's
    polarity (IDENTITY and LIN OD leave the linear density mapping as it is)."""
    if state.luts.get(film.lut or "") != "INVERSE":
        return film.images
    return {position: BoxImage(image.pixels,
                               "NORMAL" if image.polarity == "REVERSE" else "REVERSE",
                               image.magnification)
            for position, image in film.images.items()}


def _with_uid(reply: Dataset | None, uid: str, assign: bool) -> Dataset | None:
    """pynetdicom takes an SCP-assigned instance UID from the reply's AffectedSOPInstanceUID."""
    if reply is not None and assign:
        reply.AffectedSOPInstanceUID = uid
    return reply


def _reference(sop_class: str, uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = uid
    return item


def _only(reply: Dataset, wanted: Any) -> Dataset:
    """The attributes asked for (all when the list is empty)."""
    if not wanted:
        return reply
    tags = set(wanted if isinstance(wanted, list) else [wanted])
    return Dataset({tag: element for tag, element in reply.items() if tag in tags})
