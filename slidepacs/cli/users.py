"""``slidepacs user`` and ``slidepacs audit``: accounts of the web front, and who did what."""

from __future__ import annotations

import getpass
import socket
import sys
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from slidepacs.cli.context import app_context, console, state_of

user_app = typer.Typer(help="Accounts of the web front (roles admin, lab_admin, user).",
                       no_args_is_help=True)


def _actor() -> tuple[str, str]:
    """Who acts from the command line, and from where (for the audit log)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return f"cli:{name}", socket.gethostname()


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="admin, lab_admin or user.")] = "user",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from standard input (else a random "
        "one is made, shown once, and must be changed at first log-in).")] = False,
) -> None:
    """Create an account."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        made = app.accounts.add(username, role, password, actor, address)
    console.print(f"Created {escape(username)} ({role}).", highlight=False)
    if made is not None:
        console.print(f"Password (shown only now; to be changed at first log-in): {made}",
                      highlight=False, markup=False)


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List accounts."""
    with app_context(state_of(ctx)) as app:
        accounts = app.accounts.accounts()
    now = datetime.now(timezone.utc)
    table = Table(title="Accounts")
    for column in ("user", "role", "state", "last log-in", "created"):
        table.add_column(column)
    for account in accounts:
        state = ("locked" if account.locked(now) else
                 "must change password" if account.must_change_password else "active")
        last = account.last_login_at.strftime("%Y-%m-%d %H:%M") if account.last_login_at else "-"
        table.add_row(escape(account.username), account.role.value, state, last,
                      account.created_at.strftime("%Y-%m-%d"))
    console.print(table)


@user_app.command("passwd")
def user_passwd(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Reset a password: a new random one, shown once, to be changed at next log-in."""
    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        password = app.accounts.reset_password(username, actor, address)
    console.print(f"New password of {escape(username)} (shown only now; to be changed at "
                  f"next log-in): {escape(password)}", highlight=False)


@user_app.command("role")
def user_role(ctx: typer.Context, username: Annotated[str, typer.Argument()],
              role: Annotated[str, typer.Argument(help="admin, lab_admin or user.")]) -> None:
    """Give an account another role."""
    _change(ctx, lambda app, actor, address: app.accounts.set_role(username, role, actor,
                                                                  address),
            f"{escape(username)} is now {escape(role)}.")


@user_app.command("unlock")
def user_unlock(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """End a lockout after too many failed log-ins."""
    _change(ctx, lambda app, actor, address: app.accounts.unlock(username, actor, address),
            f"Unlocked {escape(username)}.")


@user_app.command("remove")
def user_remove(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Delete an account (not the last admin)."""
    _change(ctx, lambda app, actor, address: app.accounts.remove(username, actor, address),
            f"Removed {escape(username)}.")


def _change(ctx: typer.Context, change: Callable[[Any, str, str], None], done: str) -> None:
    """Apply one audited account change as the command-line user, then say what was done."""
    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        change(app, actor, address)
    console.print(done, highlight=False)


def audit_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Newest entries shown.")] = 50,
    actor: Annotated[Optional[str], typer.Option("--user", help="Only this actor.")] = None,
    action: Annotated[Optional[str], typer.Option(help="Only this action, e.g. login.failed."
                                                  )] = None,
) -> None:
    """Show the audit log: who did or saw what, when and from where (newest first)."""
    with app_context(state_of(ctx)) as app:
        entries = app.audit.recent(limit, actor, action)
    table = Table(title="Audit log")
    for column in ("when (UTC)", "who", "what", "target", "detail", "from"):
        table.add_column(column)
    for entry in entries:
        table.add_row(entry.at.strftime("%Y-%m-%d %H:%M:%S"), escape(entry.actor),
                      entry.action, escape(entry.target), escape(entry.detail),
                      escape(entry.address))
    console.print(table)
