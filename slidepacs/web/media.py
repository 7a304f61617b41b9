"""Accept headers of DICOMweb requests (PS3.18 §8.7): media ranges with their parameters."""

from __future__ import annotations

from dataclasses import dataclass

from slidepacs.errors import SlidepacsError

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
OCTET_STREAM = "application/octet-stream"
MULTIPART_RELATED = "multipart/related"
NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
# the transfer syntax a frame media type means when the Accept header names none (PS3.18
# Table 8.7.3-5), for the syntaxes frames can be transcoded to
DEFAULT_FRAME_SYNTAX = {
    OCTET_STREAM: EXPLICIT_VR_LITTLE_ENDIAN,
    "image/jpeg": "1.2.840.10008.1.2.4.50",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
}


class NotAcceptable(SlidepacsError):
    """No representation the request accepts can be produced (HTTP 406)."""


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One entry of an Accept header."""

    type: str  # lower-case, e.g. "multipart/related" or "*/*"
    parameters: dict[str, str]
    quality: float = 1.0

    def allows(self, media_type: str) -> bool:
        """True when ``media_type`` falls within this range."""
        if self.type in ("*/*", media_type):
            return True
        major = media_type.split("/")[0]
        return self.type == f"{major}/*"

    def related(self, part_type: str) -> bool:
        """True when this is a multipart/related range whose parts may be ``part_type``
        (no ``type`` parameter, ``*/*`` and ``major/*`` allow any / that major type)."""
        if self.type != MULTIPART_RELATED:
            return False
        wanted = self.part_type
        return wanted in ("", "*/*", part_type) or wanted == f"{part_type.split('/')[0]}/*"

    @property
    def part_type(self) -> str:
        """The ``type`` parameter of a multipart range (lower-case, '' when absent)."""
        return self.parameters.get("type", "").lower()

    @property
    def transfer_syntax(self) -> str:
        """The ``transfer-syntax`` parameter ('' when absent, '*' for any)."""
        return self.parameters.get("transfer-syntax", "")


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header, best first; ``*/*`` when there is none."""
    if not header or not header.strip():
        return [MediaRange("*/*", {})]
    ranges = []
    for position, item in enumerate(_split_outside_quotes(header, ",")):
        fields = _split_outside_quotes(item, ";")
        media = fields[0].strip().lower()
        if not media:
            continue
        parameters: dict[str, str] = {}
        for field in fields[1:]:
            name, _, value = field.partition("=")
            parameters[name.strip().lower()] = value.strip().strip('"')
        quality = _quality(parameters.pop("q", "1"))
        if quality > 0:
            ranges.append((quality, -position, MediaRange(media, parameters, quality)))
    if not ranges:
        raise NotAcceptable("the Accept header allows no representation (all q=0)")
    return [media for _quality_, _position, media in sorted(ranges, key=lambda r: r[:2],
                                                             reverse=True)]


def _quality(text: str) -> float:
    try:
        return min(max(float(text), 0.0), 1.0)
    except ValueError:
        return 1.0


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], [], False
    for character in text:
        if character == '"':
            quoted = not quoted
        if character == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return parts
