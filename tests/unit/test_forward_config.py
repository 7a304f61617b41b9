"""``[[forward]]`` rules and ``[forwarding]`` settings in the config file: every mistake stops
start-up with one error naming the rule (by position and name) and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from slidepacs.config import Settings, load_settings
from slidepacs.errors import ConfigError
from slidepacs.services.forward_rules import rules_from_settings

NO_ENV: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    path = tmp_path / "slidepacs.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, NO_ENV if environ is None else environ)


def _error(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    """The one-line error of loading ``text`` and building its rules."""
    with pytest.raises(ConfigError) as caught:
        rules_from_settings(_load(tmp_path, text, environ).forward)
    return str(caught.value)


GOOD = """
[forwarding]
workers = 2
retry_base_seconds = 5
retry_max_seconds = 600
max_attempts = 8

[[forward]]
name = "ct-to-ai"
destination = "AI_NODE"
calling_ae_title = "CT*"
modality = ["CT", "MR"]
sop_class_uid = "1.2.840.10008.5.1.4.1.1.*"
tags = { BodyPartExamined = "CHEST", StationName = ["re:^CT0[1-3]$", "SCANNER?"] }

[[forward]]
destination = "backup-archive"
"""


def test_rules_and_queue_settings_load(tmp_path: Path) -> None:
    settings = _load(tmp_path, GOOD)
    assert settings.forwarding.workers == 2 and settings.forwarding.max_attempts == 8
    first, second = rules_from_settings(settings.forward)
    assert first.spec.name == "ct-to-ai" and first.spec.destination == "AI_NODE"
    assert first.spec.calling_ae_title == ("CT*",)
    assert first.spec.modality == ("CT", "MR")
    assert dict(first.spec.tags)["StationName"] == ("re:^CT0[1-3]$", "SCANNER?")
    assert first.spec.from_config
    assert second.spec.name == "forward-2" and second.spec.describe() == "every instance"


def test_defaults_have_no_rules() -> None:
    settings = load_settings(None, NO_ENV)
    assert settings.forward == ()
    assert (settings.forwarding.retry_base_seconds, settings.forwarding.retry_max_seconds,
            settings.forwarding.max_attempts) == (30.0, 3600.0, 20)


@pytest.mark.parametrize(("text", "expected"), [
    ('[[forward]]\nname = "a"\ndestination = "X"\nmodalty = "CT"\n',
     'forward[1] "a": unknown key "modalty" (known keys: name, destination, calling_ae_title, '
     'modality, sop_class_uid, tags)'),
    ('[[forward]]\ndestination = "X"\n[[forward]]\nname = "b"\nmodality = "CT"\n',
     'forward[2] "b": destination: Field required'),
    ('[[forward]]\nname = "a"\ndestination = "X"\nmodality = 3\n',
     'forward[1] "a": modality: Input should be a valid tuple'),
    ('[forward]\ndestination = "X"\n',
     "forward: write each rule as a [[forward]] table"),
    ('[[forward]]\nname = "a"\ndestination = "X"\nmodality = "re:C[T"\n',
     'forward[1] "a": modality: \'re:C[T\' is not a valid regular expression'),
    ('[[forward]]\nname = "a"\ndestination = "X"\ncalling_ae_title = ["A", ""]\n',
     'forward[1] "a": calling_ae_title: empty pattern'),
    ('[[forward]]\nname = "a"\ndestination = "X"\nmodality = "CT\\\\MR"\n',
     'forward[1] "a": modality: \'CT\\\\MR\': a backslash is not allowed in a wildcard'),
    ('[[forward]]\nname = "a"\ndestination = "X"\ntags = { BodyPart = "CHEST" }\n',
     'forward[1] "a": tags: \'BodyPart\' is not a DICOM keyword'),
    ('[[forward]]\nname = "a"\ndestination = "AN\\\\AE"\n',
     'forward[1] "a": destination: \'AN\\\\AE\' is not an AE name or AE title'),
    ('[[forward]]\nname = "a"\ndestination = ""\n',
     'forward[1] "a": destination: \'\' is not an AE name or AE title'),
    ('[[forward]]\nname = "a"\ndestination = "X"\n[[forward]]\nname = "a"\ndestination = "Y"\n',
     'forward[2] "a": another [[forward]] rule is also named \'a\''),
    ('[forwarding]\nretry_base_seconds = 60\nretry_max_seconds = 10\n',
     "forwarding.retry_max_seconds: must be at least retry_base_seconds"),
    ('[forwarding]\nworkers = 0\n', "forwarding.workers: Input should be greater than or equal"),
    ('[forwarding]\nqueue = 1\n', "forwarding.queue: unknown setting"),
])
def test_mistakes_name_the_rule_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    assert _error(tmp_path, text).startswith(expected)


def test_rules_cannot_come_from_environment_variables(tmp_path: Path) -> None:
    message = _error(tmp_path, "", {"SLIDEPACS_FORWARD__DESTINATION": "X"})
    assert message.startswith("SLIDEPACS_FORWARD__DESTINATION: forwarding rules are set in the "
                              "config file")


def test_queue_settings_can_come_from_environment_variables(tmp_path: Path) -> None:
    settings = _load(tmp_path, "", {"SLIDEPACS_FORWARDING__MAX_ATTEMPTS": "3"})
    assert settings.forwarding.max_attempts == 3
