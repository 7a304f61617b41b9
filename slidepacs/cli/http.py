"""``slidepacs http …``: the HTTP front's access tokens."""

from __future__ import annotations

import typer

from slidepacs.cli.context import console

http_app = typer.Typer(help="The HTTP front (DICOMweb): access tokens.", no_args_is_help=True)


@http_app.command("token")
def token_command() -> None:
    """Make a bearer token for DICOMweb clients: the token is shown once; only its SHA-256
    digest goes into the configuration."""
    from slidepacs.domain.tokens import new_token

    token, digest = new_token()
    lines = ["token (give it to the client; it is shown only now):", f"  {token}",
             "add its digest to the configuration and restart:", "  [http]",
             '  access = "token"', f'  token_sha256 = ["{digest}"]',
             "clients send it as the header:  Authorization: Bearer <token>"]
    for line in lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
