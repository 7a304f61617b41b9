"""Pure domain model: records, queries and events. No I/O, no third-party imports."""
