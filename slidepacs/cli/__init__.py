"""Command-line interface (typer): parse, bootstrap, call one service, print."""
