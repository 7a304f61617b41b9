"""Image file name templates: ``{IMAGEID}-{BARCODEID}`` and friends (pure, no I/O).

A template is literal text and placeholders. It is checked when it is configured (only known
placeholders, no unsafe literal text); the name it renders for one slide is checked again,
since slide values (a barcode with a ``/``) can make an unsafe name: that is a rule violation,
never a path outside the image folder.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from slidepacs.errors import InvalidInput

PLACEHOLDERS = ("IMAGEID", "BARCODEID", "SLIDEID", "CASEID", "SCANNER", "DATE")
MAX_TEMPLATE_LENGTH = 200
MAX_NAME_BYTES = 200  # UTF-8; leaves room for an extension and a ".vN" version in 255 bytes
UNSAFE_CHARACTERS = '/\\:*?"<>|'
_TOKEN = re.compile(r"\{([^{}]*)\}")
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?$", re.IGNORECASE)
_EDGE_JUNK = " -_"


@dataclass(frozen=True, slots=True)
class FileNameTemplate:
    """A checked template: literal parts and placeholder names, in order."""

    text: str
    parts: tuple[tuple[bool, str], ...]  # (is_placeholder, literal text or placeholder name)

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The placeholders used, in order."""
        return tuple(value for is_placeholder, value in self.parts if is_placeholder)

    def render(self, values: Mapping[str, str]) -> str:
        """The file name (without extension) for these placeholder values; a missing value
        renders empty, and separators left dangling at either end are dropped.

        Raises InvalidInput saying why the name is unsafe (the caller reports it as a rule
        violation)."""
        name = "".join(values.get(value, "") if is_placeholder else value
                       for is_placeholder, value in self.parts).strip(_EDGE_JUNK)
        problem = name_problem(name)
        if problem:
            raise InvalidInput(f"file name {name[:80]!r} {problem}")
        return name


def parse_template(text: str) -> FileNameTemplate:
    """Check and parse a template; InvalidInput says what is wrong with it."""
    if not text.strip():
        raise InvalidInput("the file name template is empty")
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise InvalidInput(f"the file name template is longer than {MAX_TEMPLATE_LENGTH} "
                           "characters")
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _TOKEN.finditer(text):
        parts.append((False, text[position:match.start()]))
        parts.append((True, _placeholder(match.group(1))))
        position = match.end()
    parts.append((False, text[position:]))
    literal = [value for is_placeholder, value in parts if not is_placeholder and value]
    for value in literal:
        if "{" in value or "}" in value:
            raise InvalidInput(f"file name template {text!r}: unbalanced '{{' or '}}' (use "
                               "placeholders like {IMAGEID})")
        problem = _character_problem(value) or ("has '..'" if ".." in value else "")
        if problem:
            raise InvalidInput(f"file name template {text!r}: its literal text {problem}")
    if not any(is_placeholder for is_placeholder, _ in parts):
        raise InvalidInput(f"file name template {text!r} has no placeholder: every image "
                           f"would get the same name (use {_known()})")
    return FileNameTemplate(text, tuple(part for part in parts if part[0] or part[1]))


def name_problem(name: str) -> str:
    """Why ``name`` cannot be a file name in an image folder ("" if it can)."""
    if not name:
        return "is empty"
    problem = _character_problem(name)
    if problem:
        return problem
    if name.startswith("."):
        return "starts with '.' (hidden file, or a path escape)"
    if name.endswith("."):
        return "ends with '.' (Windows file shares drop it)"
    if _RESERVED.match(name):
        return "is a reserved device name on Windows file shares"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"is longer than {MAX_NAME_BYTES} bytes"
    return ""


def _character_problem(text: str) -> str:
    for char in text:
        if char in UNSAFE_CHARACTERS:
            return f"has the unsafe character {char!r} (not allowed: {UNSAFE_CHARACTERS})"
        if unicodedata.category(char)[0] == "C":  # control, format, surrogate, unassigned
            return f"has the control or invisible character U+{ord(char):04X}"
    return ""


def _placeholder(name: str) -> str:
    if name in PLACEHOLDERS:
        return name
    hint = f" (placeholders are upper case: {{{name.upper()}}})" \
        if name.upper() in PLACEHOLDERS else ""
    raise InvalidInput(f"unknown file name placeholder {{{name}}}{hint}; known: {_known()}")


def _known() -> str:
    return ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
