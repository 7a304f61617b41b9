"""The image-rules gate of ingest: every whole-slide instance a sender stores is identified
by that sender's rules (SPEC §4 "Images"), or kept in quarantine with the rule it breaks.

The gate looks only at what the header says plus, for a slide sent without a barcode, the
barcode already indexed for its series or read from its label image. It costs no database
round trip for a slide that carries its barcode (the rules are cached by
:class:`ImageRulesService`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from slidepacs.dicom.header import WSI_SOP_CLASS
from slidepacs.domain.image_rules import RuleDecision, SlideValues
from slidepacs.domain.records import InstanceHeader
from slidepacs.errors import InvalidInput
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.image_rules import ImageRulesService

log = logging.getLogger(__name__)


class RuleBroken(InvalidInput):
    """A slide instance breaks its sender's image rules."""

    def __init__(self, sender: str, header: InstanceHeader, values: SlideValues,
                 decision: RuleDecision) -> None:
        super().__init__(f"the slide breaks the image rules of {sender}: {decision.violation}")
        self.sender = sender
        self.header = header
        self.values = values
        self.decision = decision


class SlideGate:
    """Applies a sender's image rules to the whole-slide instances it stores."""

    def __init__(self, rules: ImageRulesService, unit_of_work: UnitOfWork) -> None:
        self._rules = rules
        self._uow = unit_of_work

    def admit(self, sender: str, header: InstanceHeader, path: Path) -> InstanceHeader:
        """The header with the barcode, slide ID and case ID the rules derive (unchanged for
        an object that is not a whole slide); RuleBroken if the slide breaks the rules."""
        if header.instance.sop_class_uid != WSI_SOP_CLASS:
            return header
        values = self.values(header, path)
        decision = self._rules.apply(sender, values)
        if not decision.accepted:
            raise RuleBroken(sender, header, values, decision)
        return identified(header, values, decision)

    def values(self, header: InstanceHeader, path: Path) -> SlideValues:
        """What the rules look at for one instance of a slide."""
        slide = header.instance.slide
        barcode, scanner = slide.barcode, slide.scanner
        if not barcode:
            with self._uow.read() as repo:
                barcode, indexed_scanner = repo.series_slide_values(
                    header.series.series_instance_uid)
            scanner = scanner or indexed_scanner
        values = SlideValues(image_id(header), barcode or None, scanner,
                             _scan_date(header.study.study_date))
        if not barcode and "LABEL" in header.instance.image_type.upper().split("\\"):
            values = _with_label_barcode(values, path)
        return values


def identified(header: InstanceHeader, values: SlideValues,
               decision: RuleDecision) -> InstanceHeader:
    """``header`` with the slide fields the rules derived (kept where they derive none)."""
    slide = header.instance.slide
    named = replace(slide, barcode=decision.barcode_id or values.barcode or slide.barcode,
                    slide_id=decision.slide_id or slide.slide_id,
                    case_id=decision.case_id or slide.case_id,
                    scanner=slide.scanner or values.scanner)
    return replace(header, instance=replace(header.instance, slide=named))


def image_id(header: InstanceHeader) -> str:
    """The slide's image ID ({IMAGEID}): its Series Number, else the last component of its
    Series Instance UID (every instance of a slide shares both)."""
    number = header.series.series_number
    if number is not None:
        return str(number)
    return header.series.series_instance_uid.rsplit(".", 1)[-1]


def _with_label_barcode(values: SlideValues, path: Path) -> SlideValues:
    from slidepacs.wsi.barcodes import with_label_barcode  # zxing-cpp: only for labels
    from slidepacs.wsi.dicom_reader import read_single_image

    try:
        return with_label_barcode(values, read_single_image(path))
    except InvalidInput as exc:
        log.warning("label image of slide %s not read: %s", values.image_id, exc)
        return values


def _scan_date(text: str) -> date | None:
    try:
        return datetime.strptime(text[:8], "%Y%m%d").date()
    except ValueError:
        return None
