"""Real servers on loopback that the tests talk to (no mocks on the main paths)."""
