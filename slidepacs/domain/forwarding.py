"""Forwarding rules: which stored instances go to which registered AE (pure, no I/O).

A rule matches when every criterion it has matches; a criterion is one or more patterns, any
of which may match. A pattern is a DICOM wildcard (``*`` any run, ``?`` one character, the
rest literal, compared case-sensitively as DICOM does) or, prefixed with ``re:``, a Python
regular expression that must match the whole value. Person names (PN) compare ignoring case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slidepacs.errors import InvalidInput

REGEX_PREFIX = "re:"
MAX_PATTERN_LENGTH = 1024
_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UID_WILDCARD = re.compile(r"^[0-9.*?]+$")
CRITERIA = ("calling_ae_title", "modality", "sop_class_uid", "tags")


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule as an administrator writes it (config file or CLI); patterns are plain text."""

    name: str
    destination: str
    calling_ae_title: tuple[str, ...] = ()
    modality: tuple[str, ...] = ()
    sop_class_uid: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    from_config: bool = False

    def describe(self) -> str:
        """The criteria in one line, e.g. ``modality CT|MR; tag BodyPartExamined=CHEST``."""
        parts = [f"{label} {'|'.join(values)}" for label, values in (
            ("calling AE", self.calling_ae_title), ("modality", self.modality),
            ("SOP class", self.sop_class_uid)) if values]
        parts += [f"tag {keyword}={'|'.join(values)}" for keyword, values in self.tags]
        return "; ".join(parts) or "every instance"


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled wildcard or regular expression."""

    text: str
    regex: re.Pattern[str]

    def matches(self, value: str) -> bool:
        """True when the whole value matches."""
        return self.regex.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Candidate:
    """What rules look at besides tag values: how and what an instance is."""

    calling_ae_title: str | None  # None: not received over DICOM (e.g. imported)
    modality: str
    sop_class_uid: str


@dataclass(frozen=True, slots=True)
class ForwardRule:
    """A validated rule with compiled patterns."""

    spec: RuleSpec
    calling_ae_title: tuple[Pattern, ...]
    modality: tuple[Pattern, ...]
    sop_class_uid: tuple[Pattern, ...]
    tags: tuple[tuple[str, tuple[Pattern, ...]], ...]

    @property
    def name(self) -> str:
        """The rule's name."""
        return self.spec.name

    @property
    def keywords(self) -> tuple[str, ...]:
        """Keywords of the tags this rule needs from the stored file."""
        return tuple(keyword for keyword, _ in self.tags)

    def matches_candidate(self, candidate: Candidate) -> bool:
        """Do the criteria other than tag values match?"""
        if self.calling_ae_title and candidate.calling_ae_title is None:
            return False
        return (_any(self.calling_ae_title, [candidate.calling_ae_title or ""])
                and _any(self.modality, [candidate.modality])
                and _any(self.sop_class_uid, [candidate.sop_class_uid]))

    def matches_tags(self, values: Mapping[str, Sequence[str]]) -> bool:
        """Do the tag criteria match? A multi-valued tag matches when one of its values does;
        a missing tag counts as one empty value."""
        return all(_any(patterns, values.get(keyword) or [""]) for keyword, patterns in self.tags)


def compile_rule(spec: RuleSpec, person_name_keywords: frozenset[str] = frozenset()) -> ForwardRule:
    """Validate a rule and compile its patterns; InvalidInput names the bad field."""
    checked_rule_name(spec.name)
    checked_destination(spec.destination)
    for value in spec.sop_class_uid:
        if not value.startswith(REGEX_PREFIX) and not _UID_WILDCARD.match(value):
            raise InvalidInput(f"sop_class_uid: {value!r} is not a UID (digits and dots, "
                               "with * or ?)")
    tags = []
    for keyword, patterns in spec.tags:
        if not _KEYWORD.match(keyword):
            raise InvalidInput(f"tags: {keyword!r} is not a DICOM keyword (e.g. BodyPartExamined)")
        tags.append((keyword, _patterns(f"tags.{keyword}", patterns,
                                        ignore_case=keyword in person_name_keywords)))
    return ForwardRule(
        spec,
        _patterns("calling_ae_title", spec.calling_ae_title),
        _patterns("modality", spec.modality),
        _patterns("sop_class_uid", spec.sop_class_uid),
        tuple(tags),
    )


def compile_pattern(text: str, ignore_case: bool = False) -> Pattern:
    """A DICOM wildcard, or a regular expression after ``re:``; InvalidInput if malformed."""
    if not text.strip():
        raise InvalidInput("empty pattern (leave the criterion out to match anything)")
    if len(text) > MAX_PATTERN_LENGTH or _CONTROL.search(text):
        raise InvalidInput(f"{text[:40]!r} is too long or has control characters")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    if text.startswith(REGEX_PREFIX):
        try:
            return Pattern(text, re.compile(text[len(REGEX_PREFIX):], flags))
        except re.error as exc:
            raise InvalidInput(f"{text!r} is not a valid regular expression ({exc})") from None
    if "\\" in text:
        raise InvalidInput(f"{text!r}: a backslash is not allowed in a wildcard (give a list of "
                           "patterns, or a regular expression after 're:')")
    parts = ("." if char == "?" else ".*" if char == "*" else re.escape(char) for char in text)
    return Pattern(text, re.compile("".join(parts), flags))


def checked_rule_name(name: str) -> str:
    """A rule name: 1-64 characters, no control characters; InvalidInput otherwise."""
    if not name.strip() or len(name) > 64 or _CONTROL.search(name) or name != name.strip():
        raise InvalidInput(f"name: {name!r} is not a rule name (1-64 characters, no leading "
                           "or trailing spaces)")
    return name


def checked_destination(destination: str) -> str:
    """A destination: a registered AE's name (1-64 characters) or AE title."""
    if (not destination.strip() or len(destination) > 64 or _CONTROL.search(destination)
            or "\\" in destination or destination != destination.strip()):
        raise InvalidInput(f"destination: {destination!r} is not an AE name or AE title")
    return destination


def _patterns(field: str, texts: Sequence[str], ignore_case: bool = False) -> tuple[Pattern, ...]:
    try:
        return tuple(compile_pattern(text, ignore_case) for text in texts)
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc}") from None


def _any(patterns: Sequence[Pattern], values: Sequence[str]) -> bool:
    """No patterns match everything; else one pattern must match one value."""
    return not patterns or any(p.matches(v) for p in patterns for v in values)

