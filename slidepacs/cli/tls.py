"""``slidepacs tls init``: create the lab CA and certificates for TLS listeners."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from slidepacs.cli.context import console, reported_errors, state_of

tls_app = typer.Typer(help="TLS certificates for the DICOM listeners.", no_args_is_help=True)


@tls_app.command("init")
def tls_init(
    ctx: typer.Context,
    host: Annotated[
        Optional[list[str]],
        typer.Option("--host", help="Name or IP the server certificate is for (repeatable); "
                     "default: localhost, 127.0.0.1 and this machine's name."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing lab CA.")] = False,
) -> None:
    """Create a lab CA, a server certificate and a client certificate in <data_path>/tls."""
    # here, not at the top: the configuration models and cryptography are slow to import
    from slidepacs.config import check_writable
    from slidepacs.services.certificates import TlsFiles, create_lab_pki, default_hosts

    settings = state_of(ctx).settings()
    files = TlsFiles(settings.tls_folder)
    with reported_errors():
        check_writable("storage.data_path", settings.storage.data_path)
        create_lab_pki(files, host or default_hosts(), overwrite=force)
    console.print(f"Created in {files.folder.resolve()}:")
    console.print("  ca.pem                    give to scanners and peers so they trust this server")
    console.print("  server.pem, server.key    used by the TLS listeners")
    console.print("  client.pem, client.key    for scanners/peers when client certificates are required")
    console.print("  ca.key                    signs certificates: keep it safe")
