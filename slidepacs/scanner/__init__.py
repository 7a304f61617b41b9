"""The scanner-facing fronts (SPEC §2, §5): the scanner API (docs/scanner-api.md) that slide
scanners use to pull their configuration, send heartbeats and post image metadata, and the
event receiver for their logs and events."""
