"""Per-scanner image rules: the DICOM upgrade guide's examples, lab barcodes, malformed rules.

The guide's Images page shows (HTML-unescaped): identifier ``\\d{6}``, modifier ``[(.*)&$]``,
substitution format ``$1&`` (``$1&amp;`` on the page), slide and case ID ``\\d{23}\\d{23}``,
file name ``{IMAGEID}-{BARCODEID}``.
"""

from __future__ import annotations

from datetime import date

import pytest

from slidepacs.domain.file_names import parse_template
from slidepacs.domain.image_rules import (
    DEFAULT_RULES,
    ImageRuleSpec,
    RuleDecision,
    SlideValues,
    compile_rules,
)
from slidepacs.errors import InvalidInput

GUIDE = ImageRuleSpec(barcode_regex=r"\d{6}", slide_id_regex=r"\d{23}\d{23}",
                      case_id_regex=r"\d{23}\d{23}", filename_template="{IMAGEID}-{BARCODEID}")
DIGITS_46 = "12345678901234567890123" "45678901234567890123456"


def decide(spec: ImageRuleSpec, barcode: str | None, image_id: str = "104233",
           scanner: str = "GT450-1", scan_date: date | None = date(2026, 11, 23)
           ) -> RuleDecision:
    return compile_rules(spec, version=7).apply(SlideValues(image_id, barcode, scanner, scan_date))


# (name, spec, barcode as read, barcode ID, slide ID, case ID, file name)
ACCEPTED = [
    ("guide: six digits found in a longer barcode", GUIDE, "S26-123456-A1",
     "123456", None, None, "104233-123456"),
    ("guide: the first six-digit run wins", GUIDE, "9876543210", "987654", None, None,
     "104233-987654"),
    ("guide: a 46-digit barcode is its own slide and case ID", GUIDE, DIGITS_46,
     DIGITS_46[:6], DIGITS_46, DIGITS_46, "104233-123456"),
    ("guide: no match and barcode not required leaves the barcode out of the name", GUIDE,
     "NO-DIGITS", None, None, None, "104233"),
    ("guide: no barcode at all", GUIDE, None, None, None, None, "104233"),
    ("guide modifier as a character set replaces each of ( . * ) & $",
     ImageRuleSpec(modifier_regex="[(.*)&$]", modifier_format="-"), "AB(12).3*4&5$",
     "AB-12--3-4-5-", None, None, "104233-AB-12--3-4-5"),
    ("guide format $1& with the group the guide means: (.*)&$ keeps a trailing &",
     ImageRuleSpec(modifier_regex="(.*)&$", modifier_format="$1&"), "123456&",
     "123456&", None, None, "104233-123456&"),
    ("$1 drops a GS1 trailing part",
     ImageRuleSpec(modifier_regex=r"^(\w+)\|.*$", modifier_format="$1"), "H26001234|BLK",
     "H26001234", None, None, "104233-H26001234"),
    ("lab: case, block, level and stain; slash made safe by the modifier",
     ImageRuleSpec(barcode_regex=r"^[A-Z]\d{2}/\d{5};[A-Z]\d;\d+", modifier_regex="/",
                   modifier_format="-", slide_id_regex=r"^([A-Z]\d{2}/\d{5};[A-Z]\d;\d+)",
                   case_id_regex=r"^([A-Z]\d{2}/\d{5})", require_barcode=True,
                   filename_template="{BARCODEID}_{IMAGEID}"),
     "S26/01234;A1;3;HE", "S26-01234;A1;3", "S26/01234;A1;3", "S26/01234",
     "S26-01234;A1;3_104233"),
    ("lab: named groups, .NET syntax, re-ordered",
     ImageRuleSpec(modifier_regex=r"^(?<year>\d{2})-(?<num>\d+)$",
                   modifier_format="${num}_${year}"), "26-4711", "4711_26", None, None,
     "104233-4711_26"),
    ("lab: $$ is a dollar, $0 and $& the whole match",
     ImageRuleSpec(modifier_regex=r"\d+", modifier_format="$$$0[$&]"), "A12", "A$12[12]",
     None, None, "104233-A$12[12]"),
    ("lab: $12 with one group is group 1 then a literal 2",
     ImageRuleSpec(modifier_regex=r"(\d)", modifier_format="$12"), "A7", "A72", None, None,
     "104233-A72"),
    ("lab: every placeholder",
     ImageRuleSpec(slide_id_regex=r"[A-Z]\d+-\d+", case_id_regex=r"([A-Z]\d+)-",
                   filename_template="{SCANNER}_{DATE}_{CASEID}_{SLIDEID}_{IMAGEID}"),
     "P26-0042 HE", "P26-0042 HE", "P26-0042", "P26", "GT450-1_20261123_P26_P26-0042_104233"),
    ("lab: surrounding white space and CR/LF of a hand scanner are trimmed", GUIDE,
     "  123456\r\n", "123456", None, None, "104233-123456"),
    ("lab: Codabar start/stop characters dropped by the identifier",
     ImageRuleSpec(barcode_regex=r"^[A-D](\d+)[A-D]$", require_barcode=True), "A00123456B",
     "00123456", None, None, "104233-00123456"),
]


@pytest.mark.parametrize(("spec", "barcode", "barcode_id", "slide_id", "case_id", "file_name"),
                         [case[1:] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED])
def test_accepted_slides(spec: ImageRuleSpec, barcode: str | None, barcode_id: str | None,
                         slide_id: str | None, case_id: str | None, file_name: str | None
                         ) -> None:
    decision = decide(spec, barcode)
    assert decision.violation is None and decision.accepted
    assert (decision.barcode_id, decision.slide_id, decision.case_id) == \
        (barcode_id, slide_id, case_id)
    if file_name is not None:
        assert decision.file_name == file_name
    assert decision.rules_version == 7


REQUIRED = ImageRuleSpec(barcode_regex=r"\d{6}", require_barcode=True)
# (name, spec, barcode as read, words the reason must contain)
VIOLATIONS = [
    ("required barcode missing", REQUIRED, None, ["no barcode", "require"]),
    ("required barcode blank", REQUIRED, "   ", ["no barcode"]),
    ("required barcode does not match the identifier", REQUIRED, "S26-12345",
     ["'S26-12345'", r"'\d{6}'", "require"]),
    ("a slash from the barcode would make a path", ImageRuleSpec(), "S26/01234",
     ["'/'", "{BARCODEID} 'S26/01234'", "modifier"]),
    ("a slash from the case ID (used as read)",
     ImageRuleSpec(case_id_regex=r"^[A-Z]\d{2}/\d+", filename_template="{CASEID}-{IMAGEID}"),
     "S26/01234", ["'/'", "{CASEID} 'S26/01234'", "capture only a safe part"]),
    ("a backslash from the barcode", ImageRuleSpec(), "S26\\01234", ["'\\\\'"]),
    ("a control character from the barcode", ImageRuleSpec(), "S26\x1d01234", ["U+001D"]),
    ("a bidi override from the barcode", ImageRuleSpec(), "S26\u202e01234", ["U+202E"]),
    ("path escape through the barcode alone",
     ImageRuleSpec(filename_template="{BARCODEID}"), "../../etc", ["'/'"]),
    ("hidden file through the barcode alone",
     ImageRuleSpec(filename_template="{BARCODEID}x"), "..x", ["'.'"]),
    ("reserved device name", ImageRuleSpec(filename_template="{BARCODEID}"), "CON",
     ["reserved"]),
    ("reserved device name with extension", ImageRuleSpec(filename_template="{BARCODEID}"),
     "lpt1.txt", ["reserved"]),
    ("too long a name", ImageRuleSpec(), "X" * 300, ["longer than 200 bytes"]),
    ("too long a barcode", ImageRuleSpec(), "1" * 5000, ["longer than 1024"]),
    ("empty name when every value is missing",
     ImageRuleSpec(filename_template="{BARCODEID}"), None, ["empty"]),
]


@pytest.mark.parametrize(("spec", "barcode", "words"), [case[1:] for case in VIOLATIONS],
                         ids=[case[0] for case in VIOLATIONS])
def test_rule_violations_say_why(spec: ImageRuleSpec, barcode: str | None,
                                 words: list[str]) -> None:
    decision = decide(spec, barcode)
    assert not decision.accepted and decision.file_name is None
    for word in words:
        assert word in (decision.violation or ""), decision.violation


# (name, spec, the setting named, words the reason must contain)
MALFORMED = [
    ("guide modifier with the guide's $1: a character set has no group 1",
     ImageRuleSpec(modifier_regex="[(.*)&$]", modifier_format="$1&"), "modifier_format",
     ["group 1", "no capture groups", "set of characters"]),
    ("unbalanced parenthesis", ImageRuleSpec(barcode_regex=r"(\d{6}"), "barcode_regex",
     ["not a valid regular expression", "missing )"]),
    ("bad escape", ImageRuleSpec(slide_id_regex=r"\d{2}\q"), "slide_id_regex",
     ["bad escape"]),
    ("nothing to repeat", ImageRuleSpec(case_id_regex="*abc"), "case_id_regex",
     ["nothing to repeat"]),
    ("unterminated character set", ImageRuleSpec(modifier_regex="[abc"), "modifier_regex",
     ["unterminated character set"]),
    ("an identifier matching an empty value", ImageRuleSpec(barcode_regex=r"\d*"),
     "barcode_regex", ["matches an empty value"]),
    ("a group the modifier lacks", ImageRuleSpec(modifier_regex=r"(\d+)", modifier_format="$2"),
     "modifier_format", ["group 2", "1 capture group"]),
    ("a named group the modifier lacks",
     ImageRuleSpec(modifier_regex=r"(?P<num>\d+)", modifier_format="${case}"),
     "modifier_format", ["'case'"]),
    ("an unsupported substitution", ImageRuleSpec(modifier_regex="x", modifier_format="$`"),
     "modifier_format", ["not supported"]),
    ("a format without a modifier", ImageRuleSpec(modifier_format="$1"), "modifier_format",
     ["needs a barcode value modifier"]),
    ("control character in a regex", ImageRuleSpec(barcode_regex="\\d\t"), "barcode_regex",
     ["control characters"]),
    ("too long a regex", ImageRuleSpec(barcode_regex="a" * 600), "barcode_regex",
     ["longer than 512"]),
    ("empty template", ImageRuleSpec(filename_template=" "), "filename_template", ["empty"]),
    ("template without placeholder", ImageRuleSpec(filename_template="slide"),
     "filename_template", ["no placeholder"]),
    ("unknown placeholder", ImageRuleSpec(filename_template="{IMAGEID}-{BARCODE}"),
     "filename_template", ["{BARCODE}", "{BARCODEID}"]),
    ("lower-case placeholder", ImageRuleSpec(filename_template="{imageid}"),
     "filename_template", ["upper case"]),
    ("unbalanced brace", ImageRuleSpec(filename_template="{IMAGEID}-{BARCODEID"),
     "filename_template", ["unbalanced"]),
    ("slash in the template", ImageRuleSpec(filename_template="cases/{IMAGEID}"),
     "filename_template", ["'/'"]),
    ("path escape in the template", ImageRuleSpec(filename_template="..{IMAGEID}"),
     "filename_template", ["'..'"]),
    ("NUL in the template", ImageRuleSpec(filename_template="{IMAGEID}\x00"),
     "filename_template", ["U+0000"]),
    ("colon in the template (Windows file shares)",
     ImageRuleSpec(filename_template="{IMAGEID}:{DATE}"), "filename_template", ["':'"]),
    ("too long a template", ImageRuleSpec(filename_template="{IMAGEID}" + "x" * 200),
     "filename_template", ["longer than 200"]),
    ("unknown output format", ImageRuleSpec(output_format="tiff"), "output_format",
     ["'tiff'", "dicom, svs"]),
    ("unknown tiling", ImageRuleSpec(organization="diagonal"), "organization",
     ["'diagonal'", "full, sparse"]),
    ("svs output without a folder", ImageRuleSpec(output_format="svs"), "file_location",
     ["needs a folder"]),
    ("relative file location", ImageRuleSpec(file_location="slides/out"), "file_location",
     ["not an absolute path"]),
    ("file location escaping upwards", ImageRuleSpec(file_location="/srv/../etc"),
     "file_location", ["'..'"]),
]


@pytest.mark.parametrize(("spec", "setting", "words"), [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_rules_are_refused_with_the_reason(spec: ImageRuleSpec, setting: str,
                                                     words: list[str]) -> None:
    with pytest.raises(InvalidInput) as raised:
        compile_rules(spec)
    message = str(raised.value)
    assert message.startswith(f"{setting}: "), message
    for word in words:
        assert word in message, message


def test_the_guide_identifier_and_id_formats_compile_as_written() -> None:
    rules = compile_rules(GUIDE)
    assert rules.barcode is not None and rules.barcode.pattern == r"\d{6}"
    assert rules.template.placeholders == ("IMAGEID", "BARCODEID")


def test_defaults_name_files_image_id_and_barcode_and_require_nothing() -> None:
    assert DEFAULT_RULES.apply(SlideValues("55", "S26-1")).file_name == "55-S26-1"
    assert DEFAULT_RULES.apply(SlideValues("55", None)).file_name == "55"


def test_a_rendered_name_never_leaves_its_folder() -> None:
    template = parse_template("{BARCODEID}")
    for hostile in ("..", "../x", "/etc/passwd", "a\\..\\b", ".", "x/../../y", "\x00"):
        with pytest.raises(InvalidInput):
            template.render({"BARCODEID": hostile})
