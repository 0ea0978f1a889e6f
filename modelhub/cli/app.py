"""Entry point: builds the argument parser from the command modules and maps
errors to exit codes (0 ok, 1 nothing found / not cached, 2 usage or error,
130 interrupted).

:func:`main` is the one place that turns an exception into what the user
sees: one line on stderr (``modelhub: error: ...``), and with ``--json`` also
``{"error": {"type", "message", "exit_code", ...}}`` on stdout. An exception
modelhub did not raise on purpose is a bug: one ``internal error`` line asking
for a report, exit 2; ``modelhub --debug COMMAND`` shows its traceback.

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
    from typing import Any, NoReturn

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
    "modelhub.cli.cmd_env",
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
    "env": "modelhub.cli.cmd_env",
    "completion": "modelhub.cli.cmd_env",
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


class UsageError(ModelhubError):
    """The command line is wrong (unknown option, bad value, missing
    argument). ``usage`` is the usage line of the (sub)command concerned."""

    exit_code = 2

    def __init__(self, message: str, *, usage: str | None = None, prog: str = "modelhub") -> None:
        self.usage = usage
        self.prog = prog
        super().__init__(message)


def usage_error(args: argparse.Namespace, message: str) -> UsageError:
    """A :class:`UsageError` for the subcommand ``args`` were parsed by (its
    usage line is shown), for a handler to raise."""
    parser = getattr(args, "_cli_parser", None)
    if parser is None:
        return UsageError(message)
    return UsageError(message, usage=parser.format_usage().strip(), prog=parser.prog)


class _Parser(argparse.ArgumentParser):
    """argparse makes a help formatter for every ``add_argument``, and the
    formatter imports :mod:`shutil` (with bz2 and lzma) to ask for the terminal
    width; giving it the same width keeps that import off the CLI's start.
    Subparsers are made with this class too.

    Errors raise :class:`UsageError` (carrying this parser's usage) instead of
    exiting, so that :func:`main` reports them like any other error (JSON under
    ``--json``), and the parsed namespace remembers the innermost parser used
    (``_cli_parser``) so that leftovers (``list --bogus``) are reported with
    the usage of ``list``, not of ``modelhub``."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_help_width())  # type: ignore[call-arg]

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if namespace is None:
            namespace = argparse.Namespace()
        # set before parsing: a subparser's namespace is copied over this one
        # afterwards, so the innermost parser's value wins
        namespace._cli_parser = self
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise UsageError(message, usage=self.format_usage().strip(), prog=self.prog)


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
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an internal error (for a bug report)",
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
    """Runs one command; returns its exit status (never raises for a user's
    mistake: see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | None = None
    try:
        parser = build_parser(argv)
        args, extras = parser.parse_known_args(argv)
        if extras:
            # the innermost subcommand's usage: `list --bogus` shows list's
            args._cli_parser.error(f"unrecognized arguments: {' '.join(extras)}")
        _setup_logging(args.verbose)
        func = getattr(args, "func", None)
        if func is None:
            default = getattr(args, "default_func", None)
            if default is None:
                parser.print_help(sys.stderr)
                return 2
            func = default
        return int(func(args) or 0)
    except KeyboardInterrupt as exc:
        if sys.stderr.isatty():
            sys.stderr.write("\n")  # off the line the ^C was typed on
        return _report(exc, "modelhub: interrupted", 130, args, argv)
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error for the user.
        sys.stderr.close()
        return 0
    except UsageError as exc:
        if exc.usage:
            print(exc.usage, file=sys.stderr)
        return _report(exc, f"{exc.prog}: error: {exc}", exc.exit_code, args, argv)
    except ModelhubError as exc:
        return _report(exc, f"modelhub: error: {exc}", exc.exit_code, args, argv)
    except OSError as exc:
        # the machine said no (missing file, permission, disk full): the
        # user's environment, not a bug in modelhub
        return _report(exc, f"modelhub: error: {_os_message(exc)}", 2, args, argv)
    except Exception as exc:
        text = " ".join(str(exc).split())  # one line; --debug shows it all
        line = (
            f"modelhub: internal error: {type(exc).__name__}: {text} "
            "(a bug in modelhub: please report it with the output of `modelhub env`"
            + ("" if _debug(args, argv) else " and of `modelhub --debug` with the same command")
            + ")"
        )
        return _report(exc, line, 2, args, argv)


def _debug(args: argparse.Namespace | None, argv: Sequence[str]) -> bool:
    if args is not None:
        return bool(getattr(args, "debug", False))
    return "--debug" in argv


def _os_message(exc: OSError) -> str:
    if exc.strerror and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _report(
    exc: BaseException,
    line: str,
    exit_code: int,
    args: argparse.Namespace | None,
    argv: Sequence[str],
) -> int:
    """The human line on stderr (after the traceback with ``--debug``) and,
    when the command was asked for ``--json``, the error object on stdout."""
    if _debug(args, argv):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(line, file=sys.stderr)
    wants_json = bool(getattr(args, "json", False)) if args is not None else "--json" in argv
    if wants_json:
        from modelhub.cli.output import error_dict, print_json

        print_json({"error": error_dict(exc, exit_code)})
    return exit_code
