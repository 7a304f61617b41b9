"""The DICOM print server against a real pynetdicom print SCU, on both index backends."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import (
    BasicColorImageBox,
    BasicColorPrintManagementMeta,
    BasicFilmBox,
    BasicFilmSession,
    BasicGrayscaleImageBox,
    BasicGrayscalePrintManagementMeta,
    Printer,
    PrinterInstance,
)

from slidepacs.bootstrap import AppContext, build_context, build_print_server
from slidepacs.config import settings_for
from tests.protocol.conftest import free_port

DPI = 50  # 8×10 in → 400×500 px: quick, yet every box is many pixels wide


@dataclass
class RunningPrinter:
    app: AppContext
    port: int
    ae_title: str


@pytest.fixture
def printer(tmp_path: Path, database_url: str) -> Iterator[RunningPrinter]:
    """The print listener of a fresh archive (unregistered AEs accepted)."""
    port = free_port()
    settings = settings_for(tmp_path / "data", database={"url": database_url},
                            dicom={"accept_unregistered": True},
                            print={"port": port, "dpi": DPI})
    app = build_context(settings)
    server = build_print_server(app)
    server.start()
    try:
        yield RunningPrinter(app, port, settings.print.ae_title)
    finally:
        server.stop()
        app.close()


def associate(printer: RunningPrinter, colour: bool = False):  # noqa: ANN201
    ae = AE("MODALITY")
    ae.add_requested_context(BasicColorPrintManagementMeta if colour
                             else BasicGrayscalePrintManagementMeta)
    assoc = ae.associate("127.0.0.1", printer.port, ae_title=printer.ae_title)
    assert assoc.is_established
    return assoc


def meta(colour: bool) -> str:
    return BasicColorPrintManagementMeta if colour else BasicGrayscalePrintManagementMeta


def create_session(assoc, colour: bool = False) -> str:  # noqa: ANN001
    attributes = Dataset()
    attributes.NumberOfCopies = 1
    attributes.MediumType = "PAPER"
    uid = generate_uid()
    status, reply = assoc.send_n_create(attributes, BasicFilmSession, uid,
                                        meta_uid=meta(colour))
    assert status.Status == 0x0000
    return str(uid)


def create_film(assoc, session: str, colour: bool = False, **values: object):  # noqa: ANN001, ANN201
    attributes = Dataset()
    attributes.ImageDisplayFormat = "STANDARD\\1,1"
    attributes.FilmSizeID = "8INX10IN"
    attributes.FilmOrientation = "PORTRAIT"
    for keyword, value in values.items():
        setattr(attributes, keyword, value)
    reference = Dataset()
    reference.ReferencedSOPClassUID = BasicFilmSession
    reference.ReferencedSOPInstanceUID = session
    attributes.ReferencedFilmSessionSequence = [reference]
    uid = generate_uid()
    status, reply = assoc.send_n_create(attributes, BasicFilmBox, uid, meta_uid=meta(colour))
    status.AffectedSOPInstanceUID = uid  # kept with the status for the tests' convenience
    return status, reply


def grey_item(pixels: np.ndarray, photometric: str = "MONOCHROME2") -> Dataset:
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = photometric
    item.Rows, item.Columns = pixels.shape
    if pixels.dtype == np.uint16:
        item.BitsAllocated, item.BitsStored, item.HighBit = 16, 12, 11
    else:
        item.BitsAllocated, item.BitsStored, item.HighBit = 8, 8, 7
    item.PixelRepresentation = 0
    item.PixelData = pixels.astype("<u2" if pixels.dtype == np.uint16 else np.uint8).tobytes()
    return item


def colour_item(pixels: np.ndarray) -> Dataset:
    item = Dataset()
    item.SamplesPerPixel = 3
    item.PhotometricInterpretation = "RGB"
    item.PlanarConfiguration = 0
    item.Rows, item.Columns = pixels.shape[:2]
    item.BitsAllocated, item.BitsStored, item.HighBit = 8, 8, 7
    item.PixelRepresentation = 0
    item.PixelData = pixels.astype(np.uint8).tobytes()
    return item


def set_box(assoc, box_uid: str, position: int, item: Dataset, colour: bool = False,  # noqa: ANN001
            **values: object) -> int:
    attributes = Dataset()
    attributes.ImageBoxPosition = position
    if colour:
        attributes.BasicColorImageSequence = [item]
    else:
        attributes.BasicGrayscaleImageSequence = [item]
    for keyword, value in values.items():
        setattr(attributes, keyword, value)
    status, _ = assoc.send_n_set(attributes, BasicColorImageBox if colour
                                 else BasicGrayscaleImageBox, box_uid, meta_uid=meta(colour))
    return int(status.Status)


def box_uids(reply: Dataset) -> list[str]:
    return [str(item.ReferencedSOPInstanceUID) for item in reply.ReferencedImageBoxSequence]


def print_film(assoc, film_uid: str, colour: bool = False) -> tuple[int, Dataset | None]:  # noqa: ANN001
    status, reply = assoc.send_n_action(None, 1, BasicFilmBox, film_uid,
                                        meta_uid=meta(colour))
    return int(status.Status), reply


def film_png(printer: RunningPrinter, number: int = 0) -> np.ndarray:
    job = printer.app.printing.jobs()[0]
    folder = printer.app.printing.folder_of(job)
    return np.asarray(Image.open(folder / job.films[number].png))


def test_grayscale_two_columns_places_scales_and_borders(printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        session = create_session(assoc)
        status, reply = create_film(assoc, session, ImageDisplayFormat="STANDARD\\2,1",
                                    MagnificationType="REPLICATE", BorderDensity="BLACK",
                                    EmptyImageDensity="WHITE")
        assert status.Status == 0x0000
        boxes = box_uids(reply)
        assert len(boxes) == 2
        left = np.full((64, 64), 200, np.uint8)
        left[:32, :] = 50  # top half darker: shows orientation
        assert set_box(assoc, boxes[0], 1, grey_item(left)) == 0x0000
        right = np.zeros((32, 64), np.uint16)  # 12-bit MONOCHROME1 zero is white
        assert set_box(assoc, boxes[1], 2, grey_item(right, "MONOCHROME1")) == 0x0000
        status_code, action_reply = print_film(assoc, status.AffectedSOPInstanceUID)
        assert status_code == 0x0000
        assert action_reply.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID
    finally:
        assoc.release()
    film = film_png(printer)
    assert film.shape == (500, 400)  # 8×10 in portrait at 50 dpi
    # left box 200×500: the 64×64 image scaled to 200×200, centred (rows 150..350)
    assert film[200, 100] == 50 and film[300, 100] == 200  # top half dark, bottom light
    assert film[100, 100] == 0 and film[400, 100] == 0  # border density BLACK around it
    # right box: a 2:1 image scaled to 200×100, centred (rows 200..300), white
    assert film[250, 300] == 255 and film[150, 300] == 0
    job = printer.app.printing.jobs()[0]
    assert job.calling_ae == "MODALITY" and job.status == "DONE" and len(job.films) == 1
    pdf = printer.app.printing.folder_of(job) / job.films[0].pdf
    assert pdf.read_bytes().startswith(b"%PDF")
    # the PDF page is the film: 8×10 in = 576×720 points
    assert b"/MediaBox [ 0 0 576.0 720.0 ]" in pdf.read_bytes()


def test_row_layout_landscape_polarity_and_empty_box_density(printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        session = create_session(assoc)
        status, reply = create_film(assoc, session, ImageDisplayFormat="ROW\\1,2",
                                    FilmOrientation="LANDSCAPE", BorderDensity="WHITE",
                                    EmptyImageDensity="160", MinDensity=20, MaxDensity=300)
        assert status.Status == 0x0000
        boxes = box_uids(reply)
        assert len(boxes) == 3
        image = np.full((50, 100), 0, np.uint8)  # black image, reversed → white
        assert set_box(assoc, boxes[0], 1, grey_item(image), Polarity="REVERSE") == 0
        assert set_box(assoc, boxes[2], 3, grey_item(np.full((10, 10), 30, np.uint8))) == 0
        assert print_film(assoc, status.AffectedSOPInstanceUID)[0] == 0x0000
    finally:
        assoc.release()
    film = film_png(printer)
    assert film.shape == (400, 500)  # landscape swaps width and height
    # row 1: one box 500×200; the 2:1 image fills it to 400×200 centred (cols 50..450)
    assert film[100, 250] == 255 and film[100, 20] == 255  # white image, white border
    # row 2, box 2 (empty): density 160 between 20 and 300 → grey 128
    assert film[300, 125] == 128
    # row 2, box 3: the square image 200×200 in a 250×200 box (cols 275..475)
    assert film[300, 375] == 30 and film[300, 260] == 255


def test_colour_column_layout(printer: RunningPrinter) -> None:
    assoc = associate(printer, colour=True)
    try:
        session = create_session(assoc, colour=True)
        status, reply = create_film(assoc, session, colour=True,
                                    ImageDisplayFormat="COL\\2,1", BorderDensity="BLACK",
                                    MagnificationType="BILINEAR")
        assert status.Status == 0x0000
        boxes = box_uids(reply)
        assert [item.ReferencedSOPClassUID for item in reply.ReferencedImageBoxSequence] == [
            BasicColorImageBox] * 3
        red = np.zeros((40, 40, 3), np.uint8)
        red[..., 0] = 255
        blue = np.zeros((40, 40, 3), np.uint8)
        blue[..., 2] = 255
        assert set_box(assoc, boxes[0], 1, colour_item(red), colour=True) == 0
        assert set_box(assoc, boxes[2], 3, colour_item(blue), colour=True) == 0
        assert print_film(assoc, status.AffectedSOPInstanceUID, colour=True)[0] == 0
    finally:
        assoc.release()
    film = film_png(printer)
    assert film.shape == (500, 400, 3)
    # column 1 holds boxes 1 (top) and 2 (bottom, empty); column 2 holds box 3
    assert tuple(film[125, 100]) == (255, 0, 0)
    assert tuple(film[250, 300]) == (0, 0, 255)
    assert tuple(film[375, 100]) == (0, 0, 0)  # empty box at BLACK
    assert printer.app.printing.jobs()[0].colour


def test_printer_status_by_n_get(printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        status, reply = assoc.send_n_get([0x21100010], Printer, PrinterInstance,
                                         meta_uid=BasicGrayscalePrintManagementMeta)
    finally:
        assoc.release()
    assert status.Status == 0x0000
    assert reply.PrinterStatus == "NORMAL"


def test_image_box_set_before_its_film_box_is_no_such_instance(printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        create_session(assoc)
        code = set_box(assoc, str(generate_uid()), 1, grey_item(np.zeros((8, 8), np.uint8)))
    finally:
        assoc.release()
    assert code == 0x0112
    assert printer.app.printing.jobs() == []


def test_wrong_pixel_size_is_invalid_value_and_leaves_the_box_empty(
        printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        session = create_session(assoc)
        status, reply = create_film(assoc, session)
        item = grey_item(np.zeros((8, 8), np.uint8))
        item.Rows = 16  # 16×8 announced, 8×8 sent
        assert set_box(assoc, box_uids(reply)[0], 1, item) == 0x0106
        code, _ = print_film(assoc, status.AffectedSOPInstanceUID)
    finally:
        assoc.release()
    assert code == 0xB603  # the box stayed empty: nothing printed
    assert printer.app.printing.jobs() == []


def test_unsupported_film_size_is_invalid_value(printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        session = create_session(assoc)
        status, reply = create_film(assoc, session, FilmSizeID="35CMX35CM")
    finally:
        assoc.release()
    assert status.Status == 0x0106
    assert not reply


def test_print_with_empty_boxes_warns_empty_page_and_writes_no_job(
        printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        session = create_session(assoc)
        status, _ = create_film(assoc, session, ImageDisplayFormat="STANDARD\\2,2")
        code, _ = print_film(assoc, status.AffectedSOPInstanceUID)
        session_code = assoc.send_n_action(None, 1, BasicFilmSession, session,
                                           meta_uid=BasicGrayscalePrintManagementMeta)[0].Status
    finally:
        assoc.release()
    assert code == 0xB603 and session_code == 0xB603
    assert printer.app.printing.jobs() == []
    queue = printer.app.printing.queue
    assert not queue.exists() or not any(queue.iterdir())


def test_print_job_list_show_and_delete_removes_files(printer: RunningPrinter) -> None:
    assoc = associate(printer)
    try:
        session = create_session(assoc)
        status, reply = create_film(assoc, session)
        set_box(assoc, box_uids(reply)[0], 1, grey_item(np.full((8, 8), 9, np.uint8)))
        assert print_film(assoc, status.AffectedSOPInstanceUID)[0] == 0
    finally:
        assoc.release()
    service = printer.app.printing
    job = service.jobs()[0]
    folder = service.folder_of(job)
    assert (folder / job.films[0].png).exists()
    service.delete(job.job_uid, "tester")
    assert service.jobs() == [] and not folder.exists()
    assert printer.app.audit.recent(5, action="print.delete")[0].target == job.job_uid


def test_inverse_presentation_lut_inverts_and_print_job_reports_done(
        printer: RunningPrinter) -> None:
    from pynetdicom.sop_class import PresentationLUT, PrintJob

    ae = AE("MODALITY")
    ae.add_requested_context(BasicGrayscalePrintManagementMeta)
    ae.add_requested_context(PresentationLUT)
    ae.add_requested_context(PrintJob)
    assoc = ae.associate("127.0.0.1", printer.port, ae_title=printer.ae_title)
    assert assoc.is_established
    try:
        session = create_session(assoc)
        lut_uid = generate_uid()
        lut = Dataset()
        lut.PresentationLUTShape = "INVERSE"
        status, _ = assoc.send_n_create(lut, PresentationLUT, lut_uid)
        assert status.Status == 0x0000
        reference = Dataset()
        reference.ReferencedSOPClassUID = PresentationLUT
        reference.ReferencedSOPInstanceUID = lut_uid
        status, reply = create_film(assoc, session, ReferencedPresentationLUTSequence=[reference],
                                    MagnificationType="REPLICATE")
        assert status.Status == 0x0000
        set_box(assoc, box_uids(reply)[0], 1, grey_item(np.full((10, 8), 40, np.uint8)))
        code, action = print_film(assoc, status.AffectedSOPInstanceUID)
        assert code == 0x0000
        job_uid = action.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID
        status, job = assoc.send_n_get([], PrintJob, job_uid)  # its own context
    finally:
        assoc.release()
    assert status.Status == 0x0000 and job.ExecutionStatus == "DONE"
    assert job.Originator == "MODALITY"
    assert film_png(printer)[250, 200] == 255 - 40  # INVERSE: 40 printed as 215


def test_a_print_job_is_reported_done_by_n_event_report_when_the_scu_accepts_it(
        printer: RunningPrinter) -> None:
    import threading

    from pynetdicom import evt
    from pynetdicom.sop_class import PrintJob

    reports: list[tuple[int, str]] = []
    arrived = threading.Event()

    def on_report(event) -> tuple[int, None]:  # noqa: ANN001
        reports.append((event.event_type, str(event.request.AffectedSOPInstanceUID)))
        arrived.set()
        return 0x0000, None

    ae = AE("MODALITY")
    ae.add_requested_context(BasicGrayscalePrintManagementMeta)
    ae.add_requested_context(PrintJob)
    assoc = ae.associate("127.0.0.1", printer.port, ae_title=printer.ae_title,
                         evt_handlers=[(evt.EVT_N_EVENT_REPORT, on_report)])
    assert assoc.is_established
    try:
        session = create_session(assoc)
        status, reply = create_film(assoc, session)
        set_box(assoc, box_uids(reply)[0], 1, grey_item(np.full((8, 8), 9, np.uint8)))
        code, action = print_film(assoc, status.AffectedSOPInstanceUID)
        assert code == 0x0000
        assert arrived.wait(10)
    finally:
        assoc.release()
    job_uid = str(action.ReferencedPrintJobSequence[0].ReferencedSOPInstanceUID)
    assert reports == [(3, job_uid)]  # event type 3: DONE
