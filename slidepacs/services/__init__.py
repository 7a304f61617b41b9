"""Use cases that own transactions: ingest, import, export, storage checks, statistics."""
