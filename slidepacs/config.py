"""Settings: one TOML file plus environment overrides, validated once at start-up.

Lookup order for the file: the explicit ``--config`` path, ``$SLIDEPACS_CONFIG``,
``./slidepacs.toml``, else the built-in defaults. Any setting can then be overridden by an
environment variable ``SLIDEPACS_<SECTION>__<KEY>`` (for example ``SLIDEPACS_HTTP__PORT=9042``);
the value is read as a TOML value when it parses as one (numbers, booleans, lists), else as text.

Settings are frozen and passed down from the composition root; nothing here is global.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from slidepacs.errors import ConfigError

ENV_PREFIX = "SLIDEPACS_"
CONFIG_ENV = "SLIDEPACS_CONFIG"
SCANNER_TOKEN_ENV = "SLIDEPACS_SCANNER_TOKEN"  # the virtual scanner's token, not a setting
_NOT_OVERRIDES = frozenset({CONFIG_ENV, SCANNER_TOKEN_ENV})
DEFAULT_CONFIG_FILE = "slidepacs.toml"
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash
KNOWN_CHARACTER_SETS = {
    "ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 144",
    "ISO_IR 127", "ISO_IR 126", "ISO_IR 138", "ISO_IR 148", "ISO_IR 203", "ISO_IR 13",
    "ISO_IR 166", "ISO_IR 192", "GB18030", "GBK",
    "ISO 2022 IR 6", "ISO 2022 IR 87", "ISO 2022 IR 13", "ISO 2022 IR 149",
    "ISO 2022 IR 58", "ISO 2022 IR 100",
}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_ae_title(value: str) -> str:
    if not _AE_TITLE.match(value) or not value.strip():
        raise ValueError(f"{value!r} is not an AE title (1-16 printable characters, no backslash)")
    return value.strip()


class DicomSettings(_Section):
    """The general DICOM listener (the "DICOM provider")."""

    ae_title: str = "SLIDEPACS"
    host: str = "127.0.0.1"
    port: int = Field(11112, ge=1, le=65535)
    accept_unregistered: bool = False
    tls: bool = False
    require_client_certificate: bool = False

    _ae = field_validator("ae_title")(_check_ae_title)


class SlideReceiverSettings(_Section):
    """The DICOM TLS listener that scanners send slides to."""

    ae_title: str = "SVS_STORE_SCP"
    host: str = "127.0.0.1"
    port: int = Field(2762, ge=1, le=65535)
    enabled: bool = True
    tls: bool = True
    require_client_certificate: bool = False

    _ae = field_validator("ae_title")(_check_ae_title)


class PrintSettings(_Section):
    """The DICOM print server (Basic Grayscale/Color Print Management SCP): films printed to
    it are rendered to PDF and PNG in ``queue_path`` (default ``<data_path>/print``)."""

    enabled: bool = True
    ae_title: str = "SLIDEPACS_PRINT"
    host: str = "127.0.0.1"
    port: int = Field(10400, ge=1, le=65535)
    dpi: int = Field(320, ge=50, le=600)
    queue_path: Path | None = None

    _ae = field_validator("ae_title")(_check_ae_title)

    @field_validator("queue_path", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class ScannerApiSettings(_Section):
    """The scanner administration API (SPEC §2, §5): scanners pull their configuration, post
    image metadata and heartbeats over HTTPS; a scanner is OFFLINE when it has not been heard
    from for ``heartbeat_timeout_seconds``."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(44386, ge=1, le=65535)
    tls: bool = True
    heartbeat_seconds: int = Field(15, ge=1, le=3600)  # how often scanners are told to beat
    heartbeat_timeout_seconds: int = Field(60, ge=2, le=86400)
    max_metadata_kb: int = Field(64, ge=1, le=4096)  # larger metadata bodies get 413

    @model_validator(mode="after")
    def _timeout_after_beat(self) -> ScannerApiSettings:
        if self.heartbeat_timeout_seconds <= self.heartbeat_seconds:
            raise ValueError("heartbeat_timeout_seconds must be longer than heartbeat_seconds")
        return self


class EventSettings(_Section):
    """The scanner event receiver (SPEC §2, §5): newline-delimited JSON or RFC 5424 syslog
    lines over TCP, plain on ``port`` and TLS on ``tls_port`` (0 turns a listener off).
    Every event goes to a rotating log under ``<log path>/events``; errors and worse also go
    to the index."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(6662, ge=0, le=65535)
    tls_port: int = Field(6663, ge=0, le=65535)
    max_line_bytes: int = Field(8192, ge=256, le=1 << 20)
    max_connections: int = Field(256, ge=1, le=65536)
    idle_seconds: int = Field(300, ge=1)  # a connection silent this long is closed
    queue_events: int = Field(10000, ge=100, le=1_000_000)  # readers wait when it is full
    log_file_mb: int = Field(20, ge=1, le=10240)
    log_files: int = Field(10, ge=1, le=1000)

    @model_validator(mode="after")
    def _two_ports(self) -> EventSettings:
        if self.port and self.port == self.tls_port:
            raise ValueError("port and tls_port must differ (0 turns one off)")
        return self


class TlsSettings(_Section):
    """Certificate files for TLS listeners; empty means the lab PKI in ``<data_path>/tls``
    (created by ``slidepacs tls init``, or on first start when missing)."""

    certificate: Path | None = None
    key: Path | None = None
    ca: Path | None = None

    @field_validator("certificate", "key", "ca", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class HttpAccess(str, Enum):
    """Who may use DICOMweb: anyone who can reach it, or only callers with a bearer token or
    a browser session of an account (``token`` and ``accounts`` both accept either). The
    browser UI always needs a log-in."""

    OPEN = "open"
    TOKEN = "token"
    ACCOUNTS = "accounts"


class HttpSettings(_Section):
    """The HTTP front (DICOMweb, browser UI)."""

    host: str = "127.0.0.1"
    port: int = Field(8042, ge=1, le=65535)
    enabled: bool = True
    tls: bool = False
    access: HttpAccess = HttpAccess.OPEN
    # SHA-256 (hex) of each accepted bearer token; ``slidepacs http token`` makes one
    token_sha256: tuple[str, ...] = ()
    max_upload_mb: int = Field(4096, ge=1)  # STOW-RS request bodies larger than this: 413
    # the address clients use when it differs from the request's (behind a reverse proxy)
    public_url: str = ""
    # browser sessions: ended after this long without a request, and after this long at most
    session_idle_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    session_hours: int = Field(12, ge=1, le=24 * 30)
    # ``/viewer/#/list?id=…&password=…`` log-ins (SPEC §7); off: only the form and OTP codes
    url_login: bool = False
    otp_seconds: int = Field(60, ge=5, le=3600)  # how long a one-time RSA key stays usable

    @field_validator("public_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value

    @field_validator("token_sha256")
    @classmethod
    def _digests(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not re.fullmatch(r"[0-9a-f]{64}", value):
                raise ValueError(f"{value[:12]!r}… is not a SHA-256 hex digest "
                                 "(64 lower-case hex digits; slidepacs http token makes one)")
        return values

    @model_validator(mode="after")
    def _someone_gets_in(self) -> HttpSettings:
        if self.access is HttpAccess.TOKEN and not self.token_sha256:
            raise ValueError('access = "token" needs at least one http.token_sha256 entry')
        return self


class DuplicatePolicy(str, Enum):
    """What to do when an instance arrives again with different bytes."""

    REJECT = "reject"
    KEEP_NEW_VERSION = "keep_new_version"


class StorageSettings(_Section):
    """Where files live: the data path plus up to two mirrored backup paths."""

    data_path: Path = Path("./data")
    backup_paths: tuple[Path, ...] = Field(default=(), max_length=2)
    duplicate_policy: DuplicatePolicy = DuplicatePolicy.REJECT

    @property
    def locations(self) -> tuple[Path, ...]:
        """Every location a file is written to, the data path first."""
        return (self.data_path, *self.backup_paths)


class DatabaseSettings(_Section):
    """The index database; empty URL means SQLite inside the data path."""

    url: str = ""


class LogLevel(str, Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogSettings(_Section):
    """Log file location and verbosity; empty path means ``<data_path>/logs``."""

    path: Path | None = None
    level: LogLevel = LogLevel.INFO

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("path", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


class CharacterSetSettings(_Section):
    """Specific Character Set assumed when an object does not declare one."""

    default: str = "ISO_IR 192"

    @field_validator("default")
    @classmethod
    def _known(cls, value: str) -> str:
        terms = [t.strip() for t in value.split("\\") if t.strip()] or ["ISO_IR 6"]
        unknown = [t for t in terms if t not in KNOWN_CHARACTER_SETS]
        if unknown:
            raise ValueError(f"unknown character set {unknown[0]!r}")
        return "\\".join(terms)


class ForwardingSettings(_Section):
    """The forwarding queue: how many destinations are served at once, batching, retries."""

    workers: int = Field(4, ge=1, le=64)
    batch_size: int = Field(32, ge=1, le=1000)
    retry_base_seconds: float = Field(30.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    max_attempts: int = Field(20, ge=1)
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("retry_max_seconds")
    @classmethod
    def _not_below_base(cls, value: float, info: ValidationInfo) -> float:
        if value < info.data.get("retry_base_seconds", 0):
            raise ValueError("must be at least retry_base_seconds")
        return value


Patterns = tuple[str, ...]


def _as_patterns(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


class ForwardRuleSettings(_Section):
    """One ``[[forward]]`` rule; patterns are checked when the rules are built."""

    name: str = ""
    destination: str
    calling_ae_title: Patterns = ()
    modality: Patterns = ()
    sop_class_uid: Patterns = ()
    tags: dict[str, Patterns] = Field(default_factory=dict)

    _one_or_many = field_validator("calling_ae_title", "modality", "sop_class_uid",
                                   mode="before")(_as_patterns)

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_patterns(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: _as_patterns(item) for key, item in value.items()}
        return value


class Settings(_Section):
    """The whole, validated configuration."""

    dicom: DicomSettings = DicomSettings()
    slide_receiver: SlideReceiverSettings = SlideReceiverSettings()
    http: HttpSettings = HttpSettings()
    storage: StorageSettings = StorageSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    character_set: CharacterSetSettings = CharacterSetSettings()
    tls: TlsSettings = TlsSettings()
    forwarding: ForwardingSettings = ForwardingSettings()
    forward: tuple[ForwardRuleSettings, ...] = ()
    print: PrintSettings = PrintSettings()
    scanner_api: ScannerApiSettings = ScannerApiSettings()
    events: EventSettings = EventSettings()

    @property
    def print_queue_path(self) -> Path:
        """Where printed films are written (``print.queue_path`` or ``<data_path>/print``)."""
        return (self.print.queue_path if self.print.queue_path is not None
                else self.storage.data_path / "print")

    @property
    def tls_folder(self) -> Path:
        """Where the lab PKI lives by default."""
        return self.storage.data_path / "tls"

    @property
    def tls_uses_lab_pki(self) -> bool:
        """True when no certificate file is configured (the lab PKI is used)."""
        return self.tls.certificate is None and self.tls.key is None and self.tls.ca is None

    @property
    def database_url(self) -> str:
        """The effective database URL (SQLite in the data path unless configured)."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.storage.data_path / 'index.sqlite').resolve()}"

    @property
    def log_path(self) -> Path:
        """The effective log folder."""
        return self.log.path if self.log.path is not None else self.storage.data_path / "logs"

    @property
    def event_log_path(self) -> Path:
        """Where the scanner event log is written (``<log path>/events``)."""
        return self.log_path / "events"


def find_config_file(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """Return the config file to read, following the documented lookup order."""
    if explicit is not None:
        return explicit
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


def load_settings(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, merge and validate the configuration; raise ConfigError naming the bad setting."""
    environ = os.environ if environ is None else environ
    config_file = find_config_file(path, environ)
    raw: dict[str, Any] = _read_toml(config_file) if config_file else {}
    origins = _merge_environment(raw, environ)
    return _validated(raw, origins)


def settings_for(
    data_path: Path, **sections: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> Settings:
    """Build settings in code (tests, tools): defaults, a data path and optional sections
    (a list of tables for ``forward``)."""
    raw: dict[str, Any] = {
        key: dict(value) if isinstance(value, Mapping) else [dict(item) for item in value]
        for key, value in sections.items()
    }
    raw.setdefault("storage", {})["data_path"] = str(data_path)
    return _validated(raw, {})


def _validated(raw: dict[str, Any], origins: Mapping[tuple[str, str], str]) -> Settings:
    """Validate merged raw settings; ``origins`` names the variable that set each override."""
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise _as_config_error(exc, origins, raw) from None
    _check_distinct_locations(settings.storage)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("config file", f"{path} does not exist") from None
    except OSError as exc:
        raise ConfigError("config file", f"{path} cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config file", f"{path} is not valid TOML ({exc})") from None


def _merge_environment(
    raw: dict[str, Any], environ: Mapping[str, str]
) -> dict[tuple[str, str], str]:
    """Apply ``SLIDEPACS_<SECTION>__<KEY>`` overrides; return which variable set what."""
    origins: dict[tuple[str, str], str] = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in _NOT_OVERRIDES:
            continue
        section, sep, key = name[len(ENV_PREFIX):].lower().partition("__")
        if not sep or not section or not key:
            raise ConfigError(name, "environment overrides are named SLIDEPACS_<SECTION>__<KEY>")
        if section == "forward":
            raise ConfigError(name, "forwarding rules are set in the config file ([[forward]]) "
                              "or with `slidepacs forward add`, not by environment variables")
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(section, f"is a section, not a value (set by {name})")
        target[key] = _parse_env_value(text, _wants_text(section, key))
        origins[(section, key)] = name
    return origins


def _wants_text(section: str, key: str) -> bool:
    """True when the setting is text (a string, path or named choice), not a number or list."""
    section_field = Settings.model_fields.get(section)
    model = section_field.annotation if section_field else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return False
    field = model.model_fields.get(key)
    if field is None:
        return False
    annotation = field.annotation
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    kinds = typing.get_args(annotation) if union else (annotation,)
    return any(isinstance(k, type) and issubclass(k, (str, Path)) for k in kinds)


def _parse_env_value(text: str, wants_text: bool) -> Any:
    """A TOML value when ``text`` parses as one; text settings keep unquoted text as it is."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return text if wants_text and not isinstance(value, str) else value


def _as_config_error(
    exc: ValidationError, origins: Mapping[tuple[str, str], str], raw: Mapping[str, Any]
) -> ConfigError:
    first = exc.errors()[0]
    location = tuple(str(part) for part in first["loc"])
    if location and location[0] == "forward":
        return _forward_rule_error(first, location, raw)
    setting = ".".join(location) or "config"
    origin = origins.get(location[:2]) if len(location) >= 2 else None
    source = f" (set by {origin})" if origin else ""
    if first["type"] == "extra_forbidden":
        return ConfigError(setting, f"unknown setting{source}")
    message = str(first["msg"]).removeprefix("Value error, ")
    value = first.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
    return ConfigError(setting, f"{message}{shown}{source}")


def forward_rule_label(number: int, name: str) -> str:
    """How errors name the ``number``-th (from 1) ``[[forward]]`` rule."""
    return f'forward[{number}] "{name}"' if name else f"forward[{number}]"


def _forward_rule_error(
    error: Any, location: tuple[str, ...], raw: Mapping[str, Any]
) -> ConfigError:
    """A ``[[forward]]`` problem, naming the rule by position and name."""
    if len(location) < 2 or not location[1].isdigit():
        return ConfigError("forward", "write each rule as a [[forward]] table with at least "
                           "a destination (see docs/slidepacs.example.toml)")
    index = int(location[1])
    rules = raw.get("forward")
    rule = rules[index] if isinstance(rules, list) and index < len(rules) else {}
    name = rule.get("name", "") if isinstance(rule, dict) else ""
    label = forward_rule_label(index + 1, name if isinstance(name, str) else "")
    field = ".".join(location[2:])
    if error["type"] == "extra_forbidden":
        known = ", ".join(ForwardRuleSettings.model_fields)
        return ConfigError(label, f'unknown key "{field}" (known keys: {known})')
    message = str(error["msg"]).removeprefix("Value error, ")
    return ConfigError(label, f"{field}: {message}" if field else message)


def _check_distinct_locations(storage: StorageSettings) -> None:
    resolved = [p.resolve() for p in storage.locations]
    for i, first in enumerate(resolved):
        for second in resolved[i + 1:]:
            if first == second or first in second.parents or second in first.parents:
                raise ConfigError(
                    "storage.backup_paths",
                    f"{second} overlaps {first}; each location must be a separate folder",
                )


def check_writable(setting: str, folder: Path) -> None:
    """Create ``folder`` if needed and prove it is writable, else raise ConfigError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".slidepacs-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(setting, f"{folder} is not writable ({exc.strerror})") from None


def masked(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, with secrets masked (for ``config show``)."""
    data = settings.model_dump(mode="json")
    data["database"]["url"] = mask_url(settings.database_url)
    data["log"]["path"] = str(settings.log_path)
    return data


def mask_url(url: str) -> str:
    """Hide the password in a database URL (in the user part or a ``password=`` parameter).

    Everything up to the last ``@`` is taken as the user part, so a password that itself
    contains ``@`` is masked whole.
    """
    url = re.sub(r"([?&]password=)[^&]*", r"\1***", url)
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not (sep and at and colon):
        return url
    return f"{scheme}://{user}:***@{host}"
