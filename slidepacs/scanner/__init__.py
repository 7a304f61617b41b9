"""The scanner-facing fronts (SPEC §2, §5)."""
