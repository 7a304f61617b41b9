"""Shared CLI plumbing: the loaded settings, the console, and error reporting."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console

from slidepacs.bootstrap import AppContext, build_context, configure_logging
from slidepacs.config import Settings, load_settings
from slidepacs.errors import ConfigError, MigrationRequired, SlidepacsError

console = Console()
errors = Console(stderr=True)


@dataclass
class CliState:
    """Options given before the command."""

    config_path: Path | None = None

    def settings(self) -> Settings:
        """Load and validate the configuration (exits with one clear line on error)."""
        with reported_errors():
            return load_settings(self.config_path)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn slidepacs errors into one line on stderr and a non-zero exit code."""
    try:
        yield
    except ConfigError as exc:
        errors.print(f"[red]configuration error[/red] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except MigrationRequired as exc:
        errors.print(f"[red]index needs migrating:[/red] {exc}", highlight=False)
        sys.exit(3)
    except SlidepacsError as exc:
        errors.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)


@contextmanager
def app_context(state: CliState) -> Iterator[AppContext]:
    """Settings → checked, wired context; closed at the end of the command."""
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
