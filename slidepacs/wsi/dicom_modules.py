"""The attributes of a VL Whole Slide Microscopy Image (PS3.3 A.32.8), module by module.

Only the header is built here; Pixel Data is written by :mod:`slidepacs.wsi.frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, generate_uid

from slidepacs import __version__
from slidepacs.dicom.header import WSI_SOP_CLASS
from slidepacs.wsi.model import Associated, SlideMetadata
from slidepacs.wsi.srgb import SRGB_ICC

ORIENTATION = [0, -1, 0, -1, 0, 0]  # rows run along −Y, columns along −X: label on the left
DEPTH_UM = 1.0


@dataclass(frozen=True, slots=True)
class SeriesContext:
    """What every instance of one converted slide shares."""

    study_uid: str
    series_uid: str
    frame_of_reference_uid: str
    dimension_organization_uid: str
    specimen_uid: str
    container_id: str
    specimen_id: str
    meta: SlideMetadata
    created: datetime
    patient_id: str = ""
    patient_name: str = ""
    accession_number: str = ""
    study_id: str = ""
    uid_seed: str | None = None  # instance UIDs derived from it (a re-import is a duplicate)

    def new_uid(self, role: str) -> str:
        """A fresh UID, or the one ``role`` always gets under this series' seed."""
        return seeded_uid(self.uid_seed, role)


def seeded_uid(seed: str | None, role: str) -> str:
    """The UID ``role`` always gets under ``seed``; a fresh one when there is no seed."""
    return generate_uid(entropy_srcs=[seed, role]) if seed else generate_uid()


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One instance: its kind, geometry, coding and frames."""

    kind: Associated | None  # None = a pyramid level (VOLUME)
    image_type: Sequence[str]
    instance_number: int
    px_size: tuple[int, int]  # total pixel matrix columns, rows
    tile_size: tuple[int, int]  # columns, rows of one frame
    mm_spacing: float  # pixel spacing (square pixels)
    photometric: str
    frame_count: int
    sparse: bool
    lossy_method: str | None  # ISO_10918_1, ISO_15444_1, or None when not lossy
    compression_ratio: float | None
    derivation: str | None = None


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def file_meta(sop_instance_uid: str, transfer_syntax: str) -> FileMetaDataset:
    """Part 10 File Meta Information for one instance."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(WSI_SOP_CLASS)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"SLIDEPACS_{__version__}"[:16]
    return meta


def build_dataset(ctx: SeriesContext, spec: ImageSpec, sop_instance_uid: str) -> Dataset:
    """The full header of one instance (everything but Pixel Data)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    for module in (_patient_study_series, _equipment, _image, _pixel, _functional_groups,
                   _dimensions, _specimen, _optical_path):
        module(ds, ctx, spec)
    if spec.kind is Associated.LABEL or ctx.meta.barcode:  # every instance names its slide
        ds.BarcodeValue = ctx.meta.barcode or ""
        ds.LabelText = ctx.meta.slide_id or ""
    ds.SOPClassUID = WSI_SOP_CLASS
    ds.SOPInstanceUID = sop_instance_uid
    return ds


def _patient_study_series(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    day, time = ctx.created.strftime("%Y%m%d"), ctx.created.strftime("%H%M%S")
    ds.PatientName, ds.PatientID = ctx.patient_name, ctx.patient_id
    ds.PatientBirthDate, ds.PatientSex = "", ""
    ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = ctx.study_uid, day, time
    ds.ReferringPhysicianName, ds.StudyID = "", ctx.study_id
    ds.AccessionNumber = ctx.accession_number
    ds.Modality, ds.SeriesInstanceUID = "SM", ctx.series_uid
    ds.SeriesNumber = _series_number(ctx.meta.image_id)
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = ctx.frame_of_reference_uid, "SLIDE_CORNER"
    ds.InstanceNumber = spec.instance_number
    ds.ContentDate, ds.ContentTime = day, time
    ds.AcquisitionDateTime = ctx.meta.acquired or ctx.created.strftime("%Y%m%d%H%M%S")


def _equipment(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    ds.Manufacturer = ctx.meta.properties.get("Manufacturer", "Aperio")
    ds.ManufacturerModelName = ctx.meta.properties.get("ScannerType", "Aperio SVS")
    ds.DeviceSerialNumber = ctx.meta.scanner_serial or "unknown"
    scanner_software = ctx.meta.properties.get("SoftwareVersions")  # the scanner's, kept first
    ds.SoftwareVersions = [scanner_software, f"slidepacs {__version__}"] if scanner_software \
        else f"slidepacs {__version__}"


def _image(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    columns, rows = spec.px_size
    ds.ImageType = list(spec.image_type)
    if spec.derivation:
        ds.DerivationDescription = spec.derivation
    ds.ImagedVolumeWidth = round(columns * spec.mm_spacing, 6)
    ds.ImagedVolumeHeight = round(rows * spec.mm_spacing, 6)
    ds.ImagedVolumeDepth = DEPTH_UM
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = columns, rows
    ds.TotalPixelMatrixFocalPlanes = 1
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem = round(ctx.meta.origin_mm[0], 6)
    origin.YOffsetInSlideCoordinateSystem = round(ctx.meta.origin_mm[1], 6)
    ds.TotalPixelMatrixOriginSequence = DicomSequence([origin])
    ds.ImageOrientationSlide = ORIENTATION
    ds.VolumetricProperties = "VOLUME"
    ds.SpecimenLabelInImage = "YES" if spec.kind in (Associated.LABEL, Associated.OVERVIEW) else "NO"
    ds.BurnedInAnnotation = ds.SpecimenLabelInImage
    ds.FocusMethod, ds.ExtendedDepthOfField = "AUTO", "NO"
    ds.AcquisitionContextSequence = DicomSequence()
    ds.LossyImageCompression = "01" if spec.lossy_method else "00"
    if spec.lossy_method:
        ds.LossyImageCompressionRatio = f"{spec.compression_ratio or 1.0:.4g}"
        ds.LossyImageCompressionMethod = spec.lossy_method


def _pixel(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 3, spec.photometric
    ds.PlanarConfiguration = 0
    ds.Columns, ds.Rows = spec.tile_size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = spec.frame_count


def _functional_groups(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    measures = Dataset()
    measures.PixelSpacing = [round(spec.mm_spacing, 9)] * 2
    measures.SliceThickness = DEPTH_UM / 1000
    frame_type = Dataset()
    frame_type.FrameType = list(spec.image_type)
    path_id = Dataset()
    path_id.OpticalPathIdentifier = "1"
    shared = Dataset()
    shared.PixelMeasuresSequence = DicomSequence([measures])
    shared.WholeSlideMicroscopyImageFrameTypeSequence = DicomSequence([frame_type])
    shared.OpticalPathIdentificationSequence = DicomSequence([path_id])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])


def _dimensions(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    ds.DimensionOrganizationType = "TILED_SPARSE" if spec.sparse else "TILED_FULL"
    organization = Dataset()
    organization.DimensionOrganizationUID = ctx.dimension_organization_uid
    ds.DimensionOrganizationSequence = DicomSequence([organization])
    indices = []
    for keyword, label in (("ColumnPositionInTotalImagePixelMatrix", "Column Position"),
                           ("RowPositionInTotalImagePixelMatrix", "Row Position")):
        index = Dataset()
        index.DimensionOrganizationUID = ctx.dimension_organization_uid
        index.DimensionIndexPointer = Tag(keyword)
        index.FunctionalGroupPointer = Tag("PlanePositionSlideSequence")
        index.DimensionDescriptionLabel = label
        indices.append(index)
    ds.DimensionIndexSequence = DicomSequence(indices)


def _specimen(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    ds.ContainerIdentifier = ctx.container_id
    ds.IssuerOfTheContainerIdentifierSequence = DicomSequence()
    ds.ContainerTypeCodeSequence = DicomSequence([_code("433466003", "SCT", "Microscope slide")])
    specimen = Dataset()
    specimen.SpecimenIdentifier = ctx.specimen_id
    specimen.SpecimenUID = ctx.specimen_uid
    specimen.IssuerOfTheSpecimenIdentifierSequence = DicomSequence()
    specimen.SpecimenPreparationSequence = DicomSequence()
    ds.SpecimenDescriptionSequence = DicomSequence([specimen])


def _optical_path(ds: Dataset, ctx: SeriesContext, spec: ImageSpec) -> None:
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    path.OpticalPathDescription = "Brightfield"
    path.IlluminationTypeCodeSequence = DicomSequence(
        [_code("111744", "DCM", "Brightfield illumination")])
    path.IlluminationColorCodeSequence = DicomSequence(
        [_code("414298005", "SCT", "Full Spectrum")])
    path.ICCProfile = ctx.meta.icc_profile or SRGB_ICC
    if ctx.meta.objective_power and spec.kind is None:
        path.ObjectiveLensPower = f"{ctx.meta.objective_power:g}"
    ds.NumberOfOpticalPaths = 1
    ds.OpticalPathSequence = DicomSequence([path])



def _series_number(image_id: str | None) -> int:
    """The scanner's numeric image ID as Series Number (it names the slide: {IMAGEID}), else 1."""
    text = (image_id or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**31 else 1
