"""``slidepacs scanner``: the registry of slide scanners and each one's "Images" settings
(docs/scanner-api.md). Other commands (e.g. ``scanner simulate``) register on
:data:`scanner_app` from their own modules."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from slidepacs.cli.context import app_context, console, state_of
from slidepacs.cli.users import _actor

if TYPE_CHECKING:
    from slidepacs.services.scanners import ScannerStatus

scanner_app = typer.Typer(help="Slide scanners: registry, tokens, Images settings.",
                          no_args_is_help=True)
_STATUS_COLOUR = {"ONLINE": "green", "OFFLINE": "red"}


@scanner_app.command("add")
def scanner_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the scanner (e.g. 'Lab 1').")],
    ae: Annotated[str, typer.Option("--ae", help="Calling AE title it sends slides with.")],
    model: Annotated[str, typer.Option(help="Model, e.g. 'Aperio GT 450 DX'.")] = "",
    serial: Annotated[str, typer.Option(help="Serial number.")] = "",
    host: Annotated[str, typer.Option(help="Host it sends slides to (default: the slide "
                                      "receiver's).")] = "",
    port: Annotated[Optional[int], typer.Option(help="Port it sends slides to (default: "
                                                "slide_receiver.port).")] = None,
    title: Annotated[str, typer.Option(help="Called AE title (default: the slide "
                                       "receiver's).")] = "",
) -> None:
    """Register a scanner and print its token (shown only now)."""
    from slidepacs.services.scanners import NewScanner

    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        scanner, token = app.scanners.register(
            NewScanner(name, ae, model, serial, host, port, title), actor, address)
    console.print(f"Registered scanner {escape(scanner.name)} (AE {escape(scanner.ae_title)}).",
                  highlight=False)
    _print_token(token)


@scanner_app.command("list")
def scanner_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List scanners with their status (ONLINE while heartbeats arrive)."""
    with app_context(state_of(ctx)) as app:
        listed = app.scanners.scanners()
    if as_json:
        console.print_json(json.dumps([_scanner_dict(item) for item in listed]))
        return
    if not listed:
        console.print("No scanner is registered (slidepacs scanner add NAME --ae AE_TITLE).")
        return
    table = Table(title="Scanners")
    for column in ("name", "AE title", "model", "serial", "software", "status",
                   "last contact", "clock skew"):
        table.add_column(column)
    for item in listed:
        scanner = item.scanner
        colour = _STATUS_COLOUR[item.status]
        table.add_row(escape(scanner.name), escape(scanner.ae_title), escape(scanner.model),
                      escape(scanner.serial), escape(scanner.software_version),
                      f"[{colour}]{item.status}[/{colour}]", _when(scanner.last_contact_at),
                      _skew(scanner.clock_skew_seconds))
    console.print(table)


@scanner_app.command("show")
def scanner_show(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Show one scanner: identity, status, last contact and its Images settings."""
    with app_context(state_of(ctx)) as app:
        item = app.scanners.show(name)
        images = app.scanners.images(name).document()
        version = app.scanners.config_version(name)
    for key, value in {**_scanner_dict(item), "config_version": version}.items():
        console.print(f"{key}: {_plain(value)}", markup=False, highlight=False)
    console.print("images:", highlight=False)
    _print_images(images)


@scanner_app.command("remove")
def scanner_remove(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Unregister a scanner (its token stops working; its image rules stay with its AE)."""
    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        app.scanners.remove(name, actor, address)
    console.print(f"Removed scanner {escape(name)}.", highlight=False)


@scanner_app.command("token")
def scanner_token(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Make a new token for a scanner (the old one stops working at once)."""
    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        token = app.scanners.new_token(name, actor, address)
    console.print(f"New token for scanner {escape(name)}.", highlight=False)
    _print_token(token)


def _help(field: str) -> str:
    from slidepacs.domain.scanners import IMAGE_HELP

    return IMAGE_HELP[field]


@scanner_app.command("images")
def scanner_images(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    hostname: Annotated[Optional[str], typer.Option(help=_help("hostname"))] = None,
    port: Annotated[Optional[int], typer.Option(help=_help("port"))] = None,
    title: Annotated[Optional[str], typer.Option(help=_help("title"))] = None,
    file_location: Annotated[Optional[str], typer.Option(help=_help("file_location"))] = None,
    filename_format: Annotated[Optional[str], typer.Option(
        help=_help("image_filename_format"))] = None,
    barcode_identifier: Annotated[Optional[str], typer.Option(
        help=_help("barcode_value_identifier"))] = None,
    barcode_modifier: Annotated[Optional[str], typer.Option(
        help=_help("barcode_value_modifier"))] = None,
    substitution_format: Annotated[Optional[str], typer.Option(
        help=_help("barcode_value_substitution_format"))] = None,
    output_format: Annotated[Optional[str], typer.Option(
        help=_help("image_output_format"))] = None,
    slide_id_format: Annotated[Optional[str], typer.Option(help=_help("slide_id_format"))] = None,
    case_id_format: Annotated[Optional[str], typer.Option(help=_help("case_id_format"))] = None,
    organization: Annotated[Optional[str], typer.Option(
        help=_help("dimension_organization"))] = None,
    require_barcode: Annotated[Optional[bool], typer.Option(
        "--require-barcode/--no-require-barcode", help=_help("require_barcode_id"))] = None,
) -> None:
    """Show a scanner's Images settings, or change those given ('' clears a text); the
    scanner picks changes up on its next configuration pull."""
    changes = {
        "hostname": hostname, "port": port, "title": title, "file_location": file_location,
        "image_filename_format": filename_format,
        "barcode_value_identifier": barcode_identifier,
        "barcode_value_modifier": barcode_modifier,
        "barcode_value_substitution_format": substitution_format,
        "image_output_format": output_format, "slide_id_format": slide_id_format,
        "case_id_format": case_id_format, "dimension_organization": organization,
        "require_barcode_id": require_barcode}
    given = {key: value for key, value in changes.items() if value is not None}
    actor, address = _actor()
    with app_context(state_of(ctx)) as app:
        if given:
            settings, version = app.scanners.update_images(name, given, actor, address)
            console.print(f"Images settings of {escape(name)} saved (configuration version "
                          f"{version}).", highlight=False)
        else:
            settings = app.scanners.images(name)
    _print_images(settings.document())


def _print_token(token: str) -> None:
    console.print(f"  token: {token}", markup=False, highlight=False)
    console.print("  (shown only now: give it to the scanner as 'Authorization: Bearer "
                  "<token>'; a new one: slidepacs scanner token NAME)", highlight=False)


def _print_images(images: dict[str, Any]) -> None:
    for key, value in images.items():
        console.print(f"  {key}: {_plain(value)}", markup=False, highlight=False)


def _scanner_dict(item: ScannerStatus) -> dict[str, Any]:
    scanner = item.scanner
    return {"name": scanner.name, "ae_title": scanner.ae_title, "model": scanner.model,
            "serial": scanner.serial, "software_version": scanner.software_version,
            "status": item.status, "state": scanner.state,
            "last_contact_at": scanner.last_contact_at.isoformat()
            if scanner.last_contact_at else None,
            "last_address": scanner.last_address,
            "clock_skew_seconds": scanner.clock_skew_seconds}


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None or value == "" else str(value)


def _when(value: datetime | None) -> str:
    return f"{value.astimezone():%Y-%m-%d %H:%M:%S}" if value else "never"


def _skew(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} s"
