"""Forwarding rules: the read-only ones of the config file and those added by CLI (in the index).

Rules are validated once when built (config rules at start-up, raising ConfigError naming the
rule) and matched against every stored instance; tag values are read from the stored file
only when a rule that needs them matches on everything else.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace

from slidepacs.config import ForwardRuleSettings, forward_rule_label
from slidepacs.dicom.tag_values import person_name_keywords, read_tag_values, unknown_keywords
from slidepacs.domain.events import InstanceStored
from slidepacs.domain.forwarding import Candidate, ForwardRule, RuleSpec, compile_rule
from slidepacs.errors import ConfigError, Conflict, InvalidInput, NotFound, SlidepacsError
from slidepacs.index.unit_of_work import UnitOfWork
from slidepacs.services.ae_registry import AERegistry

log = logging.getLogger(__name__)
CACHE_SECONDS = 2.0
DICOM_SOURCE = "dicom:"


def build_rule(spec: RuleSpec) -> ForwardRule:
    """Validate a rule, including that its tag keywords are in the DICOM dictionary."""
    keywords = [keyword for keyword, _ in spec.tags]
    rule = compile_rule(spec, person_name_keywords(keywords))
    unknown = unknown_keywords(keywords)
    if unknown:
        raise InvalidInput(f"tags: {unknown[0]!r} is not a DICOM keyword of a single-level "
                           "attribute (e.g. BodyPartExamined, StationName)")
    return rule


def rules_from_settings(rules: Sequence[ForwardRuleSettings]) -> tuple[ForwardRule, ...]:
    """Build the config file's rules; ConfigError names the first bad one."""
    built: list[ForwardRule] = []
    for number, item in enumerate(rules, start=1):
        label = forward_rule_label(number, item.name)
        spec = RuleSpec(
            item.name or f"forward-{number}", item.destination, item.calling_ae_title,
            item.modality, item.sop_class_uid, tuple(item.tags.items()), from_config=True)
        try:
            rule = build_rule(spec)
        except InvalidInput as exc:
            raise ConfigError(label, str(exc)) from None
        if any(other.name == rule.name for other in built):
            raise ConfigError(label, f"another [[forward]] rule is also named {rule.name!r}")
        built.append(rule)
    return tuple(built)


class ForwardRules:
    """Every rule, and which of them match a stored instance."""

    def __init__(
        self, unit_of_work: UnitOfWork, registry: AERegistry,
        config_rules: Sequence[ForwardRule], default_charset: str,
    ) -> None:
        self._uow = unit_of_work
        self._registry = registry
        self._config_rules = tuple(config_rules)
        self._charset = default_charset
        self._cache: tuple[ForwardRule, ...] = ()
        self._cache_time = -CACHE_SECONDS
        self._lock = threading.Lock()

    def all(self) -> list[RuleSpec]:
        """Config rules first (read-only), then the rules added by CLI, by name."""
        return [rule.spec for rule in self._all()]

    def add(self, spec: RuleSpec) -> RuleSpec:
        """Validate and store a rule; NotFound if its destination is not a registered AE,
        Conflict if the name is taken (also by a config rule)."""
        spec = replace(spec, from_config=False)
        build_rule(spec)
        try:
            self._registry.get(spec.destination)
        except NotFound:
            raise NotFound(f"destination {spec.destination!r} is not a registered AE; register "
                           "it first with `slidepacs ae add`") from None
        if any(rule.name == spec.name for rule in self._config_rules):
            raise Conflict(f"a forwarding rule named {spec.name!r} is in the config file")
        with self._uow.write() as repo:
            repo.forwarding.add_rule(spec)
        self._invalidate()
        log.info("added forwarding rule %s → %s (%s)", spec.name, spec.destination,
                 spec.describe())
        return spec

    def remove(self, name: str) -> None:
        """Delete a rule added by CLI; InvalidInput for a config rule, NotFound if none."""
        if any(rule.name == name for rule in self._config_rules):
            raise InvalidInput(f"rule {name!r} is defined in the config file; remove it there "
                               "and restart")
        with self._uow.write() as repo:
            removed = repo.forwarding.remove_rule(name)
        if not removed:
            raise NotFound(f"no forwarding rule is named {name!r}")
        self._invalidate()
        log.info("removed forwarding rule %s", name)

    def unregistered_destinations(self) -> list[RuleSpec]:
        """Rules whose destination is not a registered AE (their jobs wait and retry)."""
        missing = []
        for rule in self._all():
            try:
                self._registry.get(rule.spec.destination)
            except NotFound:
                missing.append(rule.spec)
        return missing

    def matching(self, event: InstanceStored) -> list[ForwardRule]:
        """The rules that match a stored instance."""
        calling = (event.source[len(DICOM_SOURCE):]
                   if event.source.startswith(DICOM_SOURCE) else None)
        candidate = Candidate(calling, event.modality, event.sop_class_uid)
        rules = [rule for rule in self._all() if rule.matches_candidate(candidate)]
        keywords = {keyword for rule in rules for keyword in rule.keywords}
        if not keywords:
            return rules
        try:
            values = read_tag_values(event.path, keywords, self._charset)
        except SlidepacsError as exc:
            log.warning("forwarding rules on tag values skipped for %s: %s",
                        event.sop_instance_uid, exc)
            return [rule for rule in rules if not rule.keywords]
        return [rule for rule in rules if rule.matches_tags(values)]

    def _all(self) -> tuple[ForwardRule, ...]:
        with self._lock:
            if time.monotonic() - self._cache_time > CACHE_SECONDS:
                with self._uow.read() as repo:
                    specs = repo.forwarding.rules()
                self._cache = self._config_rules + tuple(self._stored(specs))
                self._cache_time = time.monotonic()
            return self._cache

    @staticmethod
    def _stored(specs: Sequence[RuleSpec]) -> list[ForwardRule]:
        rules = []
        for spec in specs:
            try:
                rules.append(build_rule(spec))
            except InvalidInput as exc:  # stored by an older version with other checks
                log.error("forwarding rule %s is ignored: %s", spec.name, exc)
        return rules

    def _invalidate(self) -> None:
        with self._lock:
            self._cache_time = -CACHE_SECONDS
