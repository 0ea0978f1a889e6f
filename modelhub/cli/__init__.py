"""The ``modelhub`` command line. Owns the terminal: library code only logs."""

from modelhub.cli.main import main

__all__ = ["main"]
