"""Registered slide scanners (SPEC §5) and what they exchange with the scanner API
(docs/scanner-api.md); pure, no I/O.

A scanner's "Images" settings (SPEC §4) are its destination (hostname, port, called AE title)
plus the image rules of its calling AE title. On the wire and in the admin pages they carry
the names of the protocol document (:data:`IMAGE_FIELDS`); the image rules are stored as
:class:`ImageRuleSpec`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from slidepacs.domain.aes import checked_ae_title, checked_host, checked_port
from slidepacs.domain.image_rules import ImageRuleSpec, compile_rules
from slidepacs.errors import InvalidInput

ONLINE, OFFLINE = "ONLINE", "OFFLINE"
MAX_NAME_LENGTH = 64
MAX_TEXT_LENGTH = 64
MAX_STATE_LENGTH = 32
MAX_BARCODE_LENGTH = 200
# wire name -> ImageRuleSpec field (the destination fields have none)
RULE_FIELDS: dict[str, str] = {
    "file_location": "file_location",
    "image_filename_format": "filename_template",
    "barcode_value_identifier": "barcode_regex",
    "barcode_value_modifier": "modifier_regex",
    "barcode_value_substitution_format": "modifier_format",
    "image_output_format": "output_format",
    "slide_id_format": "slide_id_regex",
    "case_id_format": "case_id_regex",
    "dimension_organization": "organization",
    "require_barcode_id": "require_barcode",
}
DESTINATION_FIELDS = ("hostname", "port", "title")
IMAGE_FIELDS = (*DESTINATION_FIELDS, *RULE_FIELDS)
_UPPER_CASE = ("image_output_format", "dimension_organization")  # DICOM/SVS, FULL/SPARSE


def _printable(value: str) -> bool:
    return value.isprintable()


def checked_scanner_name(value: str) -> str:
    """A scanner's name without surrounding blanks (1-64 printable characters), or
    InvalidInput."""
    name = value.strip()
    if not name or len(name) > MAX_NAME_LENGTH or not _printable(name):
        raise InvalidInput(f"name: {value[:80]!r} is not a scanner name (1-{MAX_NAME_LENGTH} "
                           "printable characters)")
    return name


def checked_text(field: str, value: str, limit: int = MAX_TEXT_LENGTH) -> str:
    """Free text a scanner reports (model, serial, …): printable, at most ``limit``."""
    text = value.strip()
    if len(text) > limit or not _printable(text):
        raise InvalidInput(f"{field}: at most {limit} printable characters")
    return text


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a scanner sends its slides (SPEC §4 "Images": hostname, port, title);
    an empty host means the slide receiver's own host."""

    hostname: str = ""
    port: int = 2762
    title: str = "SVS_STORE_SCP"

    @staticmethod
    def create(hostname: str, port: int, title: str) -> Destination:
        """A validated destination (InvalidInput names the field)."""
        host = _named("hostname", lambda: checked_host(hostname)) if hostname.strip() else ""
        return Destination(host, _named("port", lambda: checked_port(port)),
                           _named("title", lambda: checked_ae_title(title)))


@dataclass(frozen=True, slots=True)
class Scanner:
    """A registered scanner as the index holds it."""

    name: str
    ae_title: str
    model: str = ""
    serial: str = ""
    software_version: str = ""
    destination: Destination = Destination()
    settings_version: int = 1
    state: str = ""
    created_at: datetime | None = None
    last_contact_at: datetime | None = None
    last_address: str = ""
    clock_skew_seconds: float | None = None
    pk: int = 0

    def status(self, now: datetime, timeout_seconds: float) -> str:
        """ONLINE while the last contact is younger than the timeout, else OFFLINE."""
        if self.last_contact_at is None:
            return OFFLINE
        young = now - self.last_contact_at < timedelta(seconds=timeout_seconds)
        return ONLINE if young else OFFLINE


@dataclass(frozen=True, slots=True)
class ImageSettings:
    """A scanner's "Images" settings: destination and image rules."""

    destination: Destination
    rules: ImageRuleSpec

    def document(self) -> dict[str, Any]:
        """The settings by their wire names (docs/scanner-api.md ``images``)."""
        spec = self.rules.fields()
        values: dict[str, Any] = {"hostname": self.destination.hostname,
                                  "port": self.destination.port,
                                  "title": self.destination.title}
        for wire, name in RULE_FIELDS.items():
            value = spec[name]
            values[wire] = value.upper() if wire in _UPPER_CASE else value
        return values

    def changed(self, changes: dict[str, Any]) -> ImageSettings:
        """These settings with ``changes`` (wire names; None keeps a value) applied and
        validated: InvalidInput names the first bad field, by its wire name."""
        unknown = sorted(set(changes) - set(IMAGE_FIELDS))
        if unknown:
            raise InvalidInput(f"{unknown[0]}: not an image setting (one of "
                               f"{', '.join(IMAGE_FIELDS)})")
        given = {key: value for key, value in changes.items() if value is not None}
        current = self.document()
        merged = {**current, **given}
        destination = Destination.create(str(merged["hostname"]), _port(merged["port"]),
                                         str(merged["title"]))
        rule_values = {name: _rule_value(wire, merged[wire]) for wire, name in
                       RULE_FIELDS.items()}
        spec = replace(self.rules, **rule_values)
        try:
            compile_rules(spec)
        except InvalidInput as exc:
            raise InvalidInput(_wire_message(str(exc))) from None
        return ImageSettings(destination, spec)


def config_document(scanner: Scanner, settings: ImageSettings, version: int,
                    receiver_host: str, events: dict[str, Any],
                    heartbeat_seconds: int) -> dict[str, Any]:
    """What ``GET /config`` answers (docs/scanner-api.md)."""
    images = settings.document()
    images["hostname"] = images["hostname"] or receiver_host
    images = {**{key: images[key] for key in DESTINATION_FIELDS},
              "calling_title": scanner.ae_title,
              **{key: images[key] for key in RULE_FIELDS}}
    return {"scanner": scanner.name, "version": version, "images": images,
            "events": events, "heartbeat_seconds": heartbeat_seconds}


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A scanner's heartbeat: its clock, and what it reports about itself (None: not
    reported)."""

    time: datetime
    state: str | None = None
    model: str | None = None
    serial: str | None = None
    software_version: str | None = None

    def skew_seconds(self, received: datetime) -> float:
        """Scanner time minus server time at receipt."""
        return round((self.time - received).total_seconds(), 3)


def parse_heartbeat(body: Any) -> Heartbeat:
    """A heartbeat from its JSON body; InvalidInput names the bad field."""
    if not isinstance(body, dict):
        raise InvalidInput("body: a heartbeat is a JSON object")
    moment = body.get("time")
    if not isinstance(moment, str):
        raise InvalidInput("time: required, the scanner's clock as ISO 8601 with an offset")
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"time: {moment[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InvalidInput("time: give the offset (e.g. Z or +01:00)")
    reported = {name: _optional_text(body, name, MAX_STATE_LENGTH if name == "state"
                                     else MAX_TEXT_LENGTH)
                for name in ("state", "model", "serial", "software_version")}
    return Heartbeat(parsed, **reported)


@dataclass(frozen=True, slots=True)
class PostedMetadata:
    """Image metadata of one slide as a scanner posted it."""

    image_id: str
    barcode: str
    payload: str  # the JSON object as posted (canonical text)


def parse_metadata(body: Any) -> PostedMetadata:
    """Posted image metadata; InvalidInput names the bad field."""
    if not isinstance(body, dict):
        raise InvalidInput("body: image metadata is a JSON object")
    image_id = body.get("image_id")
    if isinstance(image_id, int) and not isinstance(image_id, bool):
        image_id = str(image_id)
    if (not isinstance(image_id, str) or not image_id.strip() or len(image_id) > 64
            or not image_id.isprintable()):
        raise InvalidInput("image_id: required, 1-64 printable characters")
    barcode = body.get("barcode") or ""
    if not isinstance(barcode, str) or len(barcode) > MAX_BARCODE_LENGTH:
        raise InvalidInput(f"barcode: text of at most {MAX_BARCODE_LENGTH} characters")
    return PostedMetadata(image_id.strip(), barcode.strip(),
                          json.dumps(body, ensure_ascii=False, sort_keys=True))


@dataclass(frozen=True, slots=True)
class SlideMetadata:
    """Posted metadata as the index keeps it, and the series it is joined to ("": none)."""

    scanner: str
    image_id: str
    barcode: str
    received_at: datetime
    payload: dict[str, Any]
    study_instance_uid: str = ""
    series_instance_uid: str = ""

    @property
    def joined(self) -> bool:
        """True once the metadata found its slide."""
        return bool(self.series_instance_uid)


def _optional_text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: text expected")
    return checked_text(name, value, limit)


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput("port: a number 1-65535")
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"port: {value!r} is not a number") from None


def _rule_value(wire: str, value: Any) -> Any:
    if wire == "require_barcode_id":
        if not isinstance(value, bool):
            raise InvalidInput("require_barcode_id: true or false")
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{wire}: text expected")
    return value.lower() if wire in _UPPER_CASE else value


def _wire_message(message: str) -> str:
    """A compile_rules message with the rule field's wire name (``barcode_regex: …`` →
    ``barcode_value_identifier: …``)."""
    name, sep, rest = message.partition(":")
    wire = {spec: wire for wire, spec in RULE_FIELDS.items()}.get(name)
    if not sep or wire is None:
        return message
    rest = rest.replace("one of dicom, svs", "one of DICOM, SVS").replace(
        "one of full, sparse", "one of FULL, SPARSE")
    return f"{wire}:{rest}"


def _named(field: str, check: Any) -> Any:
    try:
        return check()
    except InvalidInput as exc:
        raise InvalidInput(f"{field}: {exc}") from None



# A short help for each "Images" setting (the admin page's ⓘ and the CLI's options).
IMAGE_HELP: dict[str, str] = {
    "hostname": "Host the scanner sends its slides to by DICOM (empty: the slide "
                "receiver's host).",
    "port": "TCP port of the slide receiver (slide_receiver.port, 2762 by default).",
    "title": "Called AE title the scanner sends to (the slide receiver's, SVS_STORE_SCP).",
    "file_location": "Absolute folder (the image file share) each slide is also written to, "
                     "named by the file name format (empty: archive only; needed for SVS).",
    "image_filename_format": "File name of each slide: {IMAGEID}, {BARCODEID}, {SLIDEID}, "
                             "{CASEID}, {SCANNER}, {DATE}, e.g. {IMAGEID}-{BARCODEID}.",
    "barcode_value_identifier": "Regular expression that finds the barcode ID in the barcode "
                                "as read (its first group if it has one), e.g. \\d{6}.",
    "barcode_value_modifier": "Regular expression whose matches in the barcode ID are "
                              "replaced by the substitution format.",
    "barcode_value_substitution_format": "What each modifier match becomes: $1, ${name}, $0 "
                                         "(the whole match), $$ (a dollar sign).",
    "image_output_format": "How slides go to the file location: DICOM (a folder of the "
                           "slide's DICOM files) or SVS (one SVS file); the archive always "
                           "keeps DICOM.",
    "slide_id_format": "Regular expression that finds the slide ID in the barcode.",
    "case_id_format": "Regular expression that finds the case ID in the barcode.",
    "dimension_organization": "FULL (TILED_FULL) or SPARSE (TILED_SPARSE): how the scanner "
                              "tiles the DICOM it sends, and slidepacs the slides it converts.",
    "require_barcode_id": "Keep slides without a barcode ID in quarantine instead of "
                          "archiving them.",
}
