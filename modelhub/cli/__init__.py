"""The ``modelhub`` command line. Owns the terminal: library code only logs."""

from modelhub.cli.app import main

__all__ = ["main"]
