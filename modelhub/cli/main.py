"""Entry point: builds the argument parser from the command modules and maps
errors to exit codes (0 ok, 1 nothing found / not cached, 2 usage or error).

Every command module imports only the standard library at module level, so
that ``modelhub list`` starts fast; heavy imports happen inside handlers.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TextIO

from modelhub import __version__
from modelhub.errors import ModelhubError

# Each module defines ``register(subparsers)``; its subcommands set ``func``,
# a callable taking the parsed namespace and returning an exit status.
COMMAND_MODULES: tuple[str, ...] = (
    "modelhub.cli.cmd_card",
    "modelhub.cli.cmd_catalog",
    "modelhub.cli.cmd_pull",
    "modelhub.cli.cmd_cache",
    "modelhub.cli.cmd_loaders",
    "modelhub.cli.cmd_convert",
    "modelhub.cli.cmd_mirror",
)

# command -> the module that registers it. With a known command on the line
# only that module is imported, which keeps `modelhub list` quick to start;
# help and unknown commands import them all.
COMMANDS: dict[str, str] = {
    "card": "modelhub.cli.cmd_card",
    "list": "modelhub.cli.cmd_catalog",
    "search": "modelhub.cli.cmd_catalog",
    "show": "modelhub.cli.cmd_catalog",
    "explain": "modelhub.cli.cmd_catalog",
    "catalog": "modelhub.cli.cmd_catalog",
    "pull": "modelhub.cli.cmd_pull",
    "cache": "modelhub.cli.cmd_cache",
    "loaders": "modelhub.cli.cmd_loaders",
    "embed": "modelhub.cli.cmd_loaders",
    "similarity": "modelhub.cli.cmd_loaders",
    "convert": "modelhub.cli.cmd_convert",
    "export": "modelhub.cli.cmd_mirror",
    "import": "modelhub.cli.cmd_mirror",
    "lock": "modelhub.cli.cmd_mirror",
}

log = logging.getLogger("modelhub")


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    if argv:
        command = next((a for a in argv if not a.startswith("-")), None)
        if command in COMMANDS:
            return (COMMANDS[command],)
    return COMMAND_MODULES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the module of its command is loaded."""
    parser = argparse.ArgumentParser(
        prog="modelhub",
        description="Find, fetch, verify, cache and run pretrained NLP models.",
    )
    parser.add_argument("--version", action="version", version=f"modelhub {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _modules_for(argv):
        importlib.import_module(name).register(sub)
    return parser


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at emit time, so a CLI run inside a
    host process (tests, notebooks) never logs to a stream that was swapped out
    and closed."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger("modelhub")
    # One handler however often main() runs in the same process.
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("modelhub: %(levelname)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    func = getattr(args, "func", None)
    if func is None:
        default = getattr(args, "default_func", None)
        if default is None:
            parser.print_help(sys.stderr)
            return 2
        func = default
    try:
        return int(func(args) or 0)
    except ModelhubError as exc:
        print(f"modelhub: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("modelhub: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error for the user.
        sys.stderr.close()
        return 0
