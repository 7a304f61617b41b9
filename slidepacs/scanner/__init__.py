"""The scanner front: the scanner API (docs/scanner-api.md) that slide scanners use to pull
their configuration, send heartbeats and post image metadata."""
