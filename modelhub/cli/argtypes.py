"""Argument types for the parser: a bad number or an empty path is a usage
error naming the option (exit 2), caught before any work starts.

Only argparse here: every command module imports this at start-up.
"""

from __future__ import annotations

import argparse


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be {least} or more, not {value}")
    return value


def count(text: str) -> int:
    """A whole number, 0 or more (``--limit``: 0 means no limit)."""
    return _whole_number(text, 0)


def positive_int(text: str) -> int:
    """A whole number, 1 or more."""
    return _whole_number(text, 1)


def seconds(text: str) -> float:
    """A number of seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


def path(text: str) -> str:
    """A file or folder name; empty text is a mistake, not the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (give a file or folder name)")
    return text
