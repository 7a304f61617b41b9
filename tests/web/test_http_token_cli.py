"""``slidepacs http token`` makes a token whose printed digest the configuration accepts."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from slidepacs.config import load_settings
from tests.cli import run_slidepacs


def test_the_printed_digest_is_the_tokens_and_configures_token_access(tmp_path: Path) -> None:
    result = run_slidepacs("http", "token", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    token = result.stdout.splitlines()[1].strip()
    [digest] = re.findall(r'token_sha256 = \["([0-9a-f]{64})"\]', result.stdout)
    assert hashlib.sha256(token.encode()).hexdigest() == digest
    config = tmp_path / "slidepacs.toml"
    section = result.stdout[result.stdout.index("[http]"):].splitlines()[:3]
    config.write_text("\n".join(line.strip() for line in section) + "\n")
    settings = load_settings(config)
    assert settings.http.access.value == "token"
    assert settings.http.token_sha256 == (digest,)
    again = run_slidepacs("http", "token", cwd=tmp_path)
    assert again.stdout.splitlines()[1].strip() != token  # a new random token each time
