"""Forwarding rules: each criterion, wildcards, regular expressions, lists, tags, no match."""

from __future__ import annotations

import pytest

from slidepacs.domain.forward_queue import RetryPolicy
from slidepacs.domain.forwarding import Candidate, RuleSpec, compile_pattern, compile_rule
from slidepacs.errors import InvalidInput
from slidepacs.services.forward_rules import build_rule

CT = "1.2.840.10008.5.1.4.1.1.2"
WSI = "1.2.840.10008.5.1.4.1.1.77.1.6"
FROM_CT01 = Candidate("CT01", "CT", CT)
IMPORTED_CT = Candidate(None, "CT", CT)


def rule(**criteria: object) -> RuleSpec:
    return RuleSpec("r", "DEST", **criteria)  # type: ignore[arg-type]


def matches(spec: RuleSpec, candidate: Candidate = FROM_CT01,
            tags: dict[str, tuple[str, ...]] | None = None) -> bool:
    compiled = build_rule(spec)
    return compiled.matches_candidate(candidate) and compiled.matches_tags(tags or {})


def test_a_rule_without_criteria_matches_every_instance() -> None:
    assert matches(rule())
    assert matches(rule(), IMPORTED_CT)
    assert rule().describe() == "every instance"


@pytest.mark.parametrize(("patterns", "expected"), [
    (("CT01",), True), (("CT02",), False), (("CT*",), True), (("C?01",), True),
    (("C?1",), False), (("ct01",), False), (("MR*", "CT0?"), True), (("re:^CT0[1-3]$",), True),
    (("re:CT",), False),  # a regular expression must match the whole value
])
def test_calling_ae_title(patterns: tuple[str, ...], expected: bool) -> None:
    assert matches(rule(calling_ae_title=patterns)) is expected


def test_calling_ae_criterion_never_matches_an_instance_not_received_over_dicom() -> None:
    assert not matches(rule(calling_ae_title=("*",)), IMPORTED_CT)
    assert matches(rule(modality=("CT",)), IMPORTED_CT)


@pytest.mark.parametrize(("patterns", "expected"), [
    (("CT",), True), (("MR",), False), (("C*",), True), (("?",), False), (("MR", "CT"), True),
    (("re:CT|MR",), True), (("re:(?i)ct",), True), (("ct",), False),
])
def test_modality(patterns: tuple[str, ...], expected: bool) -> None:
    assert matches(rule(modality=patterns)) is expected


@pytest.mark.parametrize(("patterns", "expected"), [
    ((CT,), True), ((WSI,), False), (("1.2.840.10008.5.1.4.1.1.*",), True),
    (("1.2.840.10008.5.1.4.1.1.77.*",), False), ((WSI, CT), True),
    (("re:1\\.2\\.840\\.10008\\.5\\.1\\.4\\.1\\.1\\.(2|4)",), True),
])
def test_sop_class_uid(patterns: tuple[str, ...], expected: bool) -> None:
    assert matches(rule(sop_class_uid=patterns)) is expected


def test_wildcard_dots_and_regex_characters_are_literal() -> None:
    assert not matches(rule(sop_class_uid=("1.2.840.10008.5.1.4.1.1.2.*",)))
    assert compile_pattern("A+B").matches("A+B") and not compile_pattern("A+B").matches("AAB")
    assert compile_pattern("(x)*").matches("(x) anything")


def test_every_criterion_must_match() -> None:
    spec = rule(calling_ae_title=("CT*",), modality=("CT",), sop_class_uid=(CT,),
                tags=(("BodyPartExamined", ("CHEST",)),))
    assert matches(spec, tags={"BodyPartExamined": ("CHEST",)})
    assert not matches(spec, tags={"BodyPartExamined": ("HEAD",)})
    assert not matches(spec, Candidate("MR01", "CT", CT), {"BodyPartExamined": ("CHEST",)})
    assert not matches(spec, Candidate("CT01", "MR", CT), {"BodyPartExamined": ("CHEST",)})
    assert not matches(spec, Candidate("CT01", "CT", WSI), {"BodyPartExamined": ("CHEST",)})


@pytest.mark.parametrize(("tags", "values", "expected"), [
    ((("StationName", ("SCANNER?",)),), {"StationName": ("SCANNER7",)}, True),
    ((("StationName", ("SCANNER?",)),), {"StationName": ("SCANNER17",)}, False),
    ((("StationName", ("*",)),), {}, True),               # universal: also an absent tag
    ((("StationName", ("S*",)),), {}, False),             # absent counts as empty
    ((("StationName", ("re:^$",)),), {}, True),
    ((("ImageType", ("AXIAL",)),), {"ImageType": ("ORIGINAL", "PRIMARY", "AXIAL")}, True),
    ((("ImageType", ("LOCALIZER",)),), {"ImageType": ("ORIGINAL", "PRIMARY", "AXIAL")}, False),
    ((("PatientName", ("doe^*",)),), {"PatientName": ("DOE^JOHN",)}, True),  # PN: any case
    ((("PatientID", ("pat*",)),), {"PatientID": ("PAT001",)}, False),        # LO: exact case
    ((("PatientID", ("PAT*",)), ("StudyDescription", ("*CT*",))),
     {"PatientID": ("PAT001",), "StudyDescription": ("Generated MR",)}, False),
])
def test_tag_values(tags: tuple, values: dict[str, tuple[str, ...]], expected: bool) -> None:
    assert matches(rule(tags=tags), tags=values) is expected


def test_keywords_lists_the_tags_a_rule_needs_from_the_file() -> None:
    compiled = build_rule(rule(tags=(("StationName", ("A",)), ("PatientName", ("B",)))))
    assert compiled.keywords == ("StationName", "PatientName")
    assert build_rule(rule(modality=("CT",))).keywords == ()


@pytest.mark.parametrize(("spec", "message"), [
    (rule(modality=("re:C[T",)), "modality: 're:C[T' is not a valid regular expression"),
    (rule(modality=("",)), "modality: empty pattern"),
    (rule(modality=("CT\\MR",)), "modality: 'CT\\\\MR': a backslash is not allowed"),
    (rule(calling_ae_title=("A\x01",)), "calling_ae_title: 'A\\x01' is too long or has control"),
    (rule(sop_class_uid=("CTImageStorage",)), "sop_class_uid: 'CTImageStorage' is not a UID"),
    (rule(tags=(("Body Part", ("X",)),)), "tags: 'Body Part' is not a DICOM keyword"),
    (rule(tags=(("BodyPart", ("X",)),)), "tags: 'BodyPart' is not a DICOM keyword"),
    (rule(tags=(("ReferencedImageSequence", ("X",)),)), "is not a DICOM keyword"),
    (rule(tags=(("StationName", ("re:(",)),)), "tags.StationName: 're:(' is not a valid"),
    (RuleSpec("", "DEST"), "name: '' is not a rule name"),
    (RuleSpec("r", " DEST"), "destination: ' DEST' is not an AE name or AE title"),
    (RuleSpec("r", "A\\B"), "destination: 'A\\\\B' is not an AE name or AE title"),
    (RuleSpec("r", "D" * 65), "is not an AE name or AE title"),
])
def test_malformed_rules_are_refused_naming_the_field(spec: RuleSpec, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_rule(spec)
    assert message in str(caught.value)


def test_compile_rule_is_pure_and_checks_only_syntax() -> None:
    compiled = compile_rule(rule(tags=(("NoSuchKeyword", ("X",)),)))
    assert compiled.matches_tags({"NoSuchKeyword": ("X",)})


def test_describe_summarises_the_criteria() -> None:
    spec = rule(calling_ae_title=("CT*",), modality=("CT", "MR"),
                tags=(("BodyPartExamined", ("CHEST",)),))
    assert spec.describe() == "calling AE CT*; modality CT|MR; tag BodyPartExamined=CHEST"


def test_retry_delays_double_up_to_the_maximum_then_give_up() -> None:
    policy = RetryPolicy(base=30, maximum=300, max_attempts=6)
    assert [policy.delay(n) for n in range(1, 7)] == [30, 60, 120, 240, 300, None]
    assert RetryPolicy(1, 10, 1).delay(1) is None
    assert RetryPolicy(1, 10, 10_000).delay(5_000) == 10
