"""Image rules per sending AE / scanner: configure them, and apply them to received slides.

Rules are validated when they are set (a bad regex or template raises InvalidInput naming
the setting) and stored in the index with a version that goes up on every change.
:meth:`ImageRulesService.apply` is what ingest calls for every slide: it uses compiled rule
sets cached for :data:`CACHE_SECONDS` (so another process's change is seen within that time)
and costs no database round trip while the cache is fresh.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone

from slidepacs.domain.aes import checked_ae_title
from slidepacs.domain.image_rules import (
    DEFAULT_RULES,
    ImageRules,
    ImageRuleSpec,
    RuleDecision,
    SlideValues,
    compile_rules,
)
from slidepacs.domain.quarantine import StoredImageRules
from slidepacs.errors import InvalidInput, NotFound
from slidepacs.index.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)
CACHE_SECONDS = 2.0
MAX_SCANNER_LENGTH = 64


@dataclass(frozen=True, slots=True)
class RuleChanges:
    """What an administrator changes in a sender's rules; None keeps the current value
    (the default for a sender without rules), "" clears a setting."""

    scanner: str | None = None
    barcode_regex: str | None = None
    modifier_regex: str | None = None
    modifier_format: str | None = None
    slide_id_regex: str | None = None
    case_id_regex: str | None = None
    filename_template: str | None = None
    require_barcode: bool | None = None
    output_format: str | None = None
    file_location: str | None = None
    organization: str | None = None


@dataclass(frozen=True, slots=True)
class RulesChanged:
    """The rules as saved, and each changed setting as (name, before, after)."""

    rules: StoredImageRules
    changes: tuple[tuple[str, object, object], ...]


class ImageRulesService:
    """Stores, shows and applies the image rules of each sending AE."""

    def __init__(self, unit_of_work: UnitOfWork) -> None:
        self._uow = unit_of_work
        self._cache: dict[str, ImageRules | RuleDecision] = {}
        self._cache_time = -CACHE_SECONDS
        self._lock = threading.Lock()

    def show(self, ae_title: str | None = None) -> list[StoredImageRules]:
        """Every sender's rules, or one sender's (NotFound if it has none)."""
        with self._uow.read() as repo:
            if ae_title is None:
                return repo.image_rules.all_rules()
            stored = repo.image_rules.rules(checked_ae_title(ae_title))
        if stored is None:
            raise NotFound(f"AE {ae_title.strip()!r} has no image rules (the defaults apply: "
                           f"file name {DEFAULT_RULES.spec.filename_template}, barcode "
                           "not required)")
        return [stored]

    def set(self, ae_title: str, changes: RuleChanges) -> RulesChanged:
        """Change a sender's rules; InvalidInput (naming the setting) if they are not valid,
        in which case nothing is stored."""
        title = checked_ae_title(ae_title)
        scanner = _checked_scanner(changes.scanner)
        with self._uow.write() as repo:
            current = repo.image_rules.rules(title)
            before = current.spec if current else ImageRuleSpec()
            spec = _changed(before, changes)
            compile_rules(spec)  # validate before anything is stored
            new_scanner = current.scanner if current and scanner is None else scanner or ""
            saved = repo.image_rules.save_rules(title, new_scanner, spec, _now())
        diff = _diff(before, spec, current.scanner if current else "", new_scanner)
        self._invalidate()
        log.info("image rules of AE %s set (version %d): %s", title, saved.version,
                 "; ".join(f"{name} {_shown(old)} -> {_shown(new)}" for name, old, new in diff) or
                 "no change")
        return RulesChanged(saved, diff)

    def remove(self, ae_title: str) -> None:
        """Delete a sender's rules (the defaults apply again); NotFound if it had none."""
        title = checked_ae_title(ae_title)
        with self._uow.write() as repo:
            removed = repo.image_rules.remove_rules(title)
        if not removed:
            raise NotFound(f"AE {title!r} has no image rules")
        self._invalidate()
        log.info("image rules of AE %s removed (the defaults apply)", title)

    def apply(self, ae_title: str, values: SlideValues, fresh: bool = False) -> RuleDecision:
        """Apply a sender's rules (the defaults when it has none) to one slide: its barcode
        ID, slide ID, case ID and file name, or the rule it breaks. ``fresh`` reads the
        rules from the index instead of the cache."""
        rules = self._snapshot(fresh).get(ae_title.strip(), DEFAULT_RULES)
        return rules if isinstance(rules, RuleDecision) else rules.apply(values)

    def output_of(self, ae_title: str) -> tuple[str, str]:
        """(output format, file location) of a sender's slides (cached like :meth:`apply`);
        ("dicom", "") when it has no valid rules."""
        rules = self._snapshot(False).get(ae_title.strip(), DEFAULT_RULES)
        if isinstance(rules, RuleDecision):
            return "dicom", ""
        return rules.spec.output_format, rules.spec.file_location

    def organization_of(self, ae_title: str) -> str:
        """How a sender's slides are tiled when slidepacs converts them ("full" or
        "sparse"; "full" when it has no valid rules)."""
        rules = self._snapshot(False).get(ae_title.strip(), DEFAULT_RULES)
        return "full" if isinstance(rules, RuleDecision) else rules.spec.organization

    def _snapshot(self, fresh: bool) -> dict[str, ImageRules | RuleDecision]:
        with self._lock:
            if fresh or time.monotonic() - self._cache_time > CACHE_SECONDS:
                with self._uow.read() as repo:
                    stored = repo.image_rules.all_rules()
                self._cache = {item.ae_title: _compiled(item) for item in stored}
                self._cache_time = time.monotonic()
            return self._cache

    def _invalidate(self) -> None:
        with self._lock:
            self._cache_time = -CACHE_SECONDS


def _compiled(stored: StoredImageRules) -> ImageRules | RuleDecision:
    """Compile stored rules; rules that no longer compile (edited in the database, or made
    by another version) refuse every slide of that sender with the reason, never crash."""
    try:
        return compile_rules(stored.spec, stored.version)
    except InvalidInput as exc:
        log.error("image rules of AE %s are not valid: %s", stored.ae_title, exc)
        return RuleDecision(stored.version, violation=(
            f"the image rules of AE {stored.ae_title} are not valid ({exc}); fix them with "
            "`slidepacs rules set`"))


def _changed(spec: ImageRuleSpec, changes: RuleChanges) -> ImageRuleSpec:
    values = {item.name: getattr(changes, item.name) for item in fields(ImageRuleSpec)}
    return replace(spec, **{name: value for name, value in values.items() if value is not None})


def _diff(before: ImageRuleSpec, after: ImageRuleSpec, old_scanner: str,
          new_scanner: str) -> tuple[tuple[str, object, object], ...]:
    old, new = before.fields(), after.fields()
    changed = [(name, old[name], new[name]) for name in old if old[name] != new[name]]
    if old_scanner != new_scanner:
        changed.insert(0, ("scanner", old_scanner, new_scanner))
    return tuple(changed)


def _checked_scanner(scanner: str | None) -> str | None:
    if scanner is None:
        return None
    if len(scanner) > MAX_SCANNER_LENGTH or any(ord(c) < 0x20 or ord(c) == 0x7F for c in scanner):
        raise InvalidInput(f"scanner: {scanner[:40]!r} is not a scanner name (at most "
                           f"{MAX_SCANNER_LENGTH} characters, no control characters)")
    return scanner.strip()


def _shown(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value)


def _now() -> datetime:
    return datetime.now(timezone.utc)
