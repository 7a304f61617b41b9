"""Per-scanner image rules (the scanner admin's "Images" page, SPEC §4); pure, no I/O.

Applying a rule set to one slide, in order:

1. The **barcode** as read (from the scanner, or from the label image) is trimmed of
   surrounding white space.
2. The **barcode value identifier** (a regular expression) is searched in it; the barcode ID is
   the first match — or its first capture group when the expression has groups. No match
   means no barcode ID.
3. The **barcode value modifier** (a regular expression) then replaces *every* match in that
   value by the **substitution format**, as .NET ``Regex.Replace`` does: ``$1``…``$99`` or
   ``${1}`` insert a group, ``${name}`` a named group, ``$0`` or ``$&`` the whole match,
   ``$$`` a dollar sign; anything else is literal (``&`` is just ``&``). No match leaves the
   value as it is. A format naming a group the modifier does not have is refused when it is
   configured.
4. The **slide ID** and **case ID** formats are searched in the barcode as read (so an
   identifier that keeps only part of it hides nothing); each gives its first match, or the
   first capture group when it has groups. No match means no slide/case ID.
5. The **file name** is the template with ``{IMAGEID}``, ``{BARCODEID}``, ``{SLIDEID}``,
   ``{CASEID}``, ``{SCANNER}``, ``{DATE}`` (``YYYYMMDD``) filled in.

A slide **breaks the rules** when "require barcode ID" is on and it has no barcode ID, when
its barcode is longer than :data:`MAX_BARCODE_LENGTH`, or when its file name would be unsafe.
.NET-style named groups ``(?<name>…)`` and ``\\k<name>`` are accepted and translated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import TypeVar

from slidepacs.domain.file_names import FileNameTemplate, name_problem, parse_template
from slidepacs.errors import InvalidInput

_T = TypeVar("_T")
DEFAULT_TEMPLATE = "{IMAGEID}-{BARCODEID}"
OUTPUT_FORMATS = ("dicom", "svs")  # what goes to the file location (DICOM is always archived)
ORGANIZATIONS = ("full", "sparse")  # TILED_FULL / TILED_SPARSE for slides slidepacs converts
MAX_REGEX_LENGTH = 512
MAX_FORMAT_LENGTH = 256
MAX_BARCODE_LENGTH = 1024
MAX_VALUE_LENGTH = 256
_NET_GROUP = re.compile(r"\(\?<(?![=!])")
_NET_BACKREF = re.compile(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>")
_SUBSTITUTION = re.compile(r"\$(?:(\$)|(&)|(\d+)|\{([^{}]*)\}|([`'+_]))")


@dataclass(frozen=True, slots=True)
class ImageRuleSpec:
    """A rule set as an administrator writes it; empty text means "not used"."""

    barcode_regex: str = ""
    modifier_regex: str = ""
    modifier_format: str = ""
    slide_id_regex: str = ""
    case_id_regex: str = ""
    filename_template: str = DEFAULT_TEMPLATE
    require_barcode: bool = False
    output_format: str = "dicom"  # "svs": also write each slide as SVS to file_location
    file_location: str = ""       # absolute folder for the SVS files
    organization: str = "full"    # how slides from this sender are tiled when converted

    def fields(self) -> dict[str, object]:
        """The settings by name, for display and change logs."""
        return {"barcode_regex": self.barcode_regex, "modifier_regex": self.modifier_regex,
                "modifier_format": self.modifier_format, "slide_id_regex": self.slide_id_regex,
                "case_id_regex": self.case_id_regex,
                "filename_template": self.filename_template,
                "require_barcode": self.require_barcode, "output_format": self.output_format,
                "file_location": self.file_location, "organization": self.organization}


@dataclass(frozen=True, slots=True)
class SlideValues:
    """What the rules look at for one slide (given by the caller)."""

    image_id: str
    barcode: str | None = None       # as read; None when the slide has none
    scanner: str = ""
    scan_date: date | None = None
    barcode_symbology: str = ""      # e.g. "DataMatrix" when read from the label image


@dataclass(frozen=True, slots=True)
class RuleDecision:
    """The outcome of applying a rule set: the derived values, or why the slide is refused."""

    rules_version: int
    barcode_id: str | None = None
    slide_id: str | None = None
    case_id: str | None = None
    file_name: str | None = None
    violation: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the slide keeps to the rules."""
        return self.violation is None


@dataclass(frozen=True, slots=True)
class _Substitution:
    """A parsed substitution format: literal text and group references, in order."""

    parts: tuple[str | int, ...]  # str literal, int group number (named groups resolved)

    def expand(self, match: re.Match[str]) -> str:
        return "".join(part if isinstance(part, str) else (match.group(part) or "")
                       for part in self.parts)


@dataclass(frozen=True, slots=True)
class ImageRules:
    """A validated rule set with compiled expressions."""

    spec: ImageRuleSpec
    version: int
    template: FileNameTemplate
    barcode: re.Pattern[str] | None = None
    modifier: re.Pattern[str] | None = None
    substitution: _Substitution = field(default_factory=lambda: _Substitution(()))
    slide_id: re.Pattern[str] | None = None
    case_id: re.Pattern[str] | None = None

    def apply(self, values: SlideValues) -> RuleDecision:
        """The barcode ID, slide ID, case ID and file name of one slide, or a violation."""
        raw = (values.barcode or "").strip()
        if len(raw) > MAX_BARCODE_LENGTH:
            return self._refuse(f"the barcode is longer than {MAX_BARCODE_LENGTH} characters")
        barcode_id = self._barcode_id(raw)
        if barcode_id is None and self.spec.require_barcode:
            return self._refuse(_missing_barcode(raw, self.barcode))
        slide_id, case_id = _extract(self.slide_id, raw), _extract(self.case_id, raw)
        fill = {"IMAGEID": values.image_id, "BARCODEID": barcode_id or "",
                "SLIDEID": slide_id or "", "CASEID": case_id or "", "SCANNER": values.scanner,
                "DATE": values.scan_date.strftime("%Y%m%d") if values.scan_date else ""}
        try:
            file_name = self.template.render(fill)
        except InvalidInput as exc:
            return RuleDecision(self.version, barcode_id, slide_id, case_id, None,
                                f"{exc} (template {self.template.text})"
                                f"{_culprit(fill, self.template.placeholders)}")
        return RuleDecision(self.version, barcode_id, slide_id, case_id, file_name)

    def _barcode_id(self, raw: str) -> str | None:
        value = _extract(self.barcode, raw) if self.barcode else (raw or None)
        if value and self.modifier is not None:
            value = self.modifier.sub(self.substitution.expand, value)
        value = (value or "").strip()
        return value[:MAX_VALUE_LENGTH] if value else None

    def _refuse(self, reason: str) -> RuleDecision:
        return RuleDecision(self.version, violation=reason)


def compile_rules(spec: ImageRuleSpec, version: int = 0) -> ImageRules:
    """Validate a rule set and compile it; InvalidInput names the bad setting and says why."""
    template = _field("filename_template", lambda: parse_template(spec.filename_template))
    barcode = _extracting("barcode_regex", spec.barcode_regex)
    modifier = _field("modifier_regex", lambda: _regex(spec.modifier_regex))
    if spec.modifier_format and modifier is None:
        raise InvalidInput("modifier_format: a substitution format needs a barcode value "
                           "modifier (modifier_regex) to apply to")
    substitution = _field("modifier_format",
                          lambda: _parse_substitution(spec.modifier_format, modifier))
    _check_output(spec.output_format, spec.file_location)
    if spec.organization not in ORGANIZATIONS:
        raise InvalidInput(f"organization: {spec.organization!r} is not one of "
                           f"{', '.join(ORGANIZATIONS)}")
    return ImageRules(spec, version, template, barcode, modifier, substitution,
                      _extracting("slide_id_regex", spec.slide_id_regex),
                      _extracting("case_id_regex", spec.case_id_regex))



def _check_output(output_format: str, file_location: str) -> None:
    if output_format not in OUTPUT_FORMATS:
        raise InvalidInput(f"output_format: {output_format!r} is not one of "
                           f"{', '.join(OUTPUT_FORMATS)}")
    if output_format == "svs" and not file_location:
        raise InvalidInput("file_location: output format svs needs a folder to write to")
    if file_location and not PurePosixPath(file_location).is_absolute():
        raise InvalidInput(f"file_location: {file_location!r} is not an absolute path")
    if ".." in PurePosixPath(file_location).parts or any(
            ord(char) < 0x20 or ord(char) == 0x7F for char in file_location):
        raise InvalidInput(f"file_location: {file_location!r} has '..' or control characters")


def _field(name: str, build: Callable[[], _T]) -> _T:
    """``build()``, its InvalidInput prefixed with the setting's name."""
    try:
        return build()
    except InvalidInput as exc:
        raise InvalidInput(f"{name}: {exc}") from None


def _extracting(name: str, text: str) -> re.Pattern[str] | None:
    """A regex that finds a value: it must not match an empty value."""
    pattern = _field(name, lambda: _regex(text))
    if pattern is not None and pattern.fullmatch("") is not None:
        raise InvalidInput(f"{name}: '{text}' matches an empty value, so it would find "
                           "nothing useful (e.g. use + instead of *)")
    return pattern


def _regex(text: str) -> re.Pattern[str] | None:
    if not text:
        return None
    if len(text) > MAX_REGEX_LENGTH:
        raise InvalidInput(f"the regular expression is longer than {MAX_REGEX_LENGTH} "
                           "characters")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise InvalidInput(f"{text!r} has control characters (write \\t, \\n… instead)")
    translated = _NET_BACKREF.sub(r"(?P=\1)", _NET_GROUP.sub("(?P<", text))
    try:
        return re.compile(translated)
    except re.error as exc:
        raise InvalidInput(f"'{text}' is not a valid regular expression ({exc})") from None


def _parse_substitution(text: str, modifier: re.Pattern[str] | None) -> _Substitution:
    if len(text) > MAX_FORMAT_LENGTH:
        raise InvalidInput(f"the substitution format is longer than {MAX_FORMAT_LENGTH} "
                           "characters")
    if modifier is None:
        return _Substitution(())
    parts: list[str | int] = []
    position = 0
    for match in _SUBSTITUTION.finditer(text):
        parts.append(text[position:match.start()])
        dollar, whole, number, braced, other = match.groups()
        if other:
            raise InvalidInput(f"${other} is not supported in '{text}' (use $1…, ${{name}}, "
                               "$0 or $$)")
        if dollar:
            parts.append("$")
        elif whole:
            parts.append(0)
        elif number is not None:
            group, rest = _group_number(number, modifier, text)
            parts += [group, rest]
        else:
            parts.append(_braced_group(braced, modifier, text))
        position = match.end()
    parts.append(text[position:])
    return _Substitution(tuple(part for part in parts if part != ""))


def _group_number(digits: str, modifier: re.Pattern[str], text: str) -> tuple[int, str]:
    """``$12`` means group 12 if there is one, else group 1 followed by "2" (as in .NET)."""
    for length in range(len(digits), 0, -1):
        number = int(digits[:length])
        if number <= modifier.groups:
            return number, digits[length:]
    raise InvalidInput(_no_group(f"${digits[0]}", digits[0], modifier, text))


def _braced_group(name: str, modifier: re.Pattern[str], text: str) -> int:
    if name.isdigit():
        if int(name) <= modifier.groups:
            return int(name)
        raise InvalidInput(_no_group(f"${{{name}}}", name, modifier, text))
    if name in modifier.groupindex:
        return modifier.groupindex[name]
    raise InvalidInput(_no_group(f"${{{name}}}", repr(name), modifier, text))


def _no_group(reference: str, group: str, modifier: re.Pattern[str], text: str) -> str:
    hint = (" ([…] is a set of characters, not a group: write (…) to capture)"
            if "[" in modifier.pattern and "(" in modifier.pattern else "")
    return (f"{reference} in '{text}' refers to group {group}, but the modifier "
            f"'{modifier.pattern}' has {modifier.groups or 'no'} capture group"
            f"{'' if modifier.groups == 1 else 's'}{hint}")


def _extract(pattern: re.Pattern[str] | None, raw: str) -> str | None:
    """The first match of ``pattern`` in ``raw`` (its first group, if it has groups)."""
    if pattern is None or not raw:
        return None
    match = pattern.search(raw)
    if match is None:
        return None
    value = (match.group(1) if pattern.groups else match.group(0)) or ""
    return value.strip()[:MAX_VALUE_LENGTH] or None


def _culprit(fill: dict[str, str], used: tuple[str, ...]) -> str:
    """Which placeholder value made the name unsafe, and how to fix it."""
    for name in ("BARCODEID", "SLIDEID", "CASEID", "SCANNER", "IMAGEID"):
        if name in used and fill[name] and name_problem(fill[name]) not in ("", "is empty"):
            fix = ("a barcode value modifier can replace it" if name == "BARCODEID" else
                   "slide and case IDs are used as read: capture only a safe part with a group"
                   if name in ("SLIDEID", "CASEID") else "leave it out of the template")
            return f"; from {{{name}}} {fill[name][:80]!r}: {fix}"
    return ""


def _missing_barcode(raw: str, identifier: re.Pattern[str] | None) -> str:
    if not raw:
        return "the slide has no barcode and the rules require a barcode ID"
    if identifier is None:
        return f"the barcode {raw[:80]!r} leaves an empty barcode ID, which the rules require"
    return (f"the barcode {raw[:80]!r} has no match for the barcode value identifier "
            f"'{identifier.pattern}' and the rules require a barcode ID")


DEFAULT_RULES = compile_rules(ImageRuleSpec())  # for a sender without rules of its own
