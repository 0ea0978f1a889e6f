"""Package-level contracts: import cost, exception hierarchy, CLI entry."""

from __future__ import annotations

import subprocess
import sys

import modelhub
from modelhub import errors


def test_every_public_error_derives_from_modelhub_error() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ModelhubError), name


def test_import_and_cli_help_do_not_load_heavy_libraries() -> None:
    code = (
        "import sys, modelhub, modelhub.cards, modelhub.registry, modelhub.loaders\n"
        "from modelhub.cli.app import build_parser\n"
        "build_parser()\n"
        "heavy = [m for m in ('torch', 'transformers', 'boto3', 'botocore') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_m_modelhub_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "modelhub", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"modelhub {modelhub.__version__}"


def test_command_table_matches_what_modules_register() -> None:
    """`modelhub CMD` imports only COMMANDS[CMD]: that module must define CMD."""
    import argparse
    import importlib

    cli_main = importlib.import_module("modelhub.cli.app")
    registered: dict[str, str] = {}
    for module in cli_main.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(module).register(sub)
        for name in sub.choices:
            registered[name] = module
    assert registered == cli_main.COMMANDS
