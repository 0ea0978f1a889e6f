"""Entry point: builds the argument parser from the command modules and maps
errors to exit codes (0 ok, 1 nothing found / not cached, 2 usage or error).

Every command module imports only the standard library at module level, so
that ``modelhub list`` starts fast; heavy imports happen inside handlers.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from modelhub import __version__
from modelhub.errors import ModelhubError

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

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


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    if argv:
        command = next((a for a in argv if not a.startswith("-")), None)
        if command in COMMANDS:
            return (COMMANDS[command],)
    return COMMAND_MODULES


def _help_width() -> int:
    """The width argparse's formatter computes with ``shutil.get_terminal_size``
    (``$COLUMNS``, else the terminal's, else 80; less 2)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 80
        columns = columns or 80
    return columns - 2


class _Parser(argparse.ArgumentParser):
    """argparse makes a help formatter for every ``add_argument``, and the
    formatter imports :mod:`shutil` (with bz2 and lzma) to ask for the terminal
    width; giving it the same width keeps that import off the CLI's start.
    Subparsers are made with this class too."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the module of its command is loaded."""
    parser = _Parser(
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


def _stderr_handler_class() -> type:
    """The handler class (made once; :mod:`logging` is imported here, not at
    module level)."""
    global _handler_class
    if _handler_class is None:
        import logging

        class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
            """Writes to whatever ``sys.stderr`` is at emit time, so a CLI run
            inside a host process (tests, notebooks) never logs to a stream that
            was swapped out and closed."""

            def __init__(self) -> None:
                super().__init__()

            @property  # type: ignore[override]
            def stream(self) -> Any:
                return sys.stderr

            @stream.setter
            def stream(self, _value: Any) -> None:
                pass

        _handler_class = _StderrHandler
    return _handler_class


_handler_class: type | None = None


def _configure_logging(verbosity: int) -> None:
    import logging

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger("modelhub")
    handler_class = _stderr_handler_class()
    # One handler however often main() runs in the same process.
    if not any(isinstance(h, handler_class) for h in root.handlers):
        handler = handler_class()
        handler.setFormatter(logging.Formatter("modelhub: %(levelname)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)


class _ConfigureOnImport:
    """A ``sys.meta_path`` entry that finds nothing itself: when :mod:`logging`
    is first imported, the normal finders load it and the CLI's handler is
    installed right after. ``modelhub list`` never imports logging, and its
    import costs more than a sixth of that command's time; any other command
    (or library code that warns) still gets its messages on stderr as
    ``modelhub: LEVEL: ...``."""

    def __init__(self, verbosity: int) -> None:
        self.verbosity = verbosity

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "logging":
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenConfigure(spec.loader, self.verbosity)
        return spec


class _ThenConfigure:
    """Loads the module with the real loader, then configures logging."""

    def __init__(self, loader: Any, verbosity: int) -> None:
        self._loader = loader
        self._verbosity = verbosity

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        _configure_logging(self._verbosity)

    def __getattr__(self, name: str) -> Any:  # get_source, get_code, ... for tracebacks
        return getattr(self._loader, name)


def _setup_logging(verbosity: int) -> None:
    if "logging" in sys.modules:
        _configure_logging(verbosity)
        return
    for finder in sys.meta_path:
        if isinstance(finder, _ConfigureOnImport):
            finder.verbosity = verbosity
            return
    sys.meta_path.insert(0, _ConfigureOnImport(verbosity))


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
