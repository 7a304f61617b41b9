"""Shared CLI plumbing: the loaded settings, the console, and error reporting."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from slidepacs.errors import ConfigError, MigrationRequired, SlidepacsError

if TYPE_CHECKING:
    from slidepacs.bootstrap import AppContext
    from slidepacs.config import Settings

# Modules that are slow to import (the configuration models, bootstrap with SQLAlchemy,
# pydicom, pynetdicom and every service) are imported where they are used, so that commands
# needing no index (convert, --help) start quickly.

console = Console()
errors = Console(stderr=True, soft_wrap=True, highlight=False)  # one line per error, never wrapped


@dataclass
class CliState:
    """Options given before the command."""

    config_path: Path | None = None

    def settings(self) -> Settings:
        """Load and validate the configuration (exits with one clear line on error)."""
        from slidepacs.config import load_settings

        with reported_errors():
            return load_settings(self.config_path)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn slidepacs errors into one line on stderr and a non-zero exit code."""
    try:
        yield
    except ConfigError as exc:
        _report("configuration error:", exc, 2)
    except MigrationRequired as exc:
        _report("index needs migrating:", exc, 3)
    except SlidepacsError as exc:
        _report("error:", exc, 1)


def _report(label: str, exc: SlidepacsError, exit_code: int) -> NoReturn:
    """Print ``label message`` as exactly one line on stderr and exit with ``exit_code``."""
    line = " ".join(str(exc).split())
    errors.print(f"[red]{label}[/red] {escape(line)}")
    sys.exit(exit_code)


@contextmanager
def app_context(state: CliState) -> Iterator[AppContext]:
    """Settings → checked, wired context; closed at the end of the command."""
    from slidepacs.bootstrap import build_context, configure_logging

    settings = state.settings()
    with reported_errors():
        context = build_context(settings)
        configure_logging(settings)
    try:
        with reported_errors():
            yield context
    finally:
        context.close()


def state_of(ctx: typer.Context) -> CliState:
    """The CliState stored by the main callback."""
    state = ctx.find_root().obj
    return state if isinstance(state, CliState) else CliState()
