"""Test support: data generators and real throw-away servers. Runtime code never imports it."""
