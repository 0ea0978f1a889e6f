"""The public API cannot change under the user: ``modelhub.pull``,
``modelhub.resolve`` and ``modelhub.pretrained`` are the functions whatever
was imported before, and no public name of a package is also one of its
submodules (importing a submodule binds its name on the package, which once
turned ``modelhub.pull`` into the module ``modelhub.registry.pull``)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import modelhub

ROOT = Path(__file__).resolve().parent.parent

# Every module a pull/pretrained call imports, then the rest of the registry.
_IMPORT_ALL = """
import pkgutil, importlib, modelhub, modelhub.registry
for m in pkgutil.walk_packages(modelhub.registry.__path__, "modelhub.registry."):
    importlib.import_module(m.name)
import modelhub.api, modelhub.cache, modelhub.cards
"""

ORDERS = {
    "names first": "import modelhub\nnames = check(modelhub)\n" + _IMPORT_ALL,
    "submodules first": _IMPORT_ALL + "import modelhub\n",
    "from-imports after pull ran its imports": (
        "import modelhub.registry.pulling, modelhub.registry.catalog.resolve\n"
        "from modelhub import pull, resolve, pretrained\n"
        "from modelhub.registry import resolve as registry_resolve, pull as registry_pull\n"
        "assert callable(registry_resolve) and callable(registry_pull)\n"
        "assert callable(pull) and callable(resolve) and callable(pretrained)\n"
    ),
}

_CHECK = """
import types
def check(pkg):
    import modelhub.registry as registry
    registry_names = ("pull", "resolve", "explain", "pull_artifact", "load_catalog")
    for owner, names in ((pkg, ("pull", "resolve", "pretrained")), (registry, registry_names)):
        for name in names:
            value = getattr(owner, name)
            assert isinstance(value, types.FunctionType), (owner.__name__, name, value)
"""


@pytest.mark.parametrize("order", sorted(ORDERS))
def test_public_functions_stay_functions_whatever_was_imported(order: str) -> None:
    code = _CHECK + textwrap.dedent(ORDERS[order]) + "\nimport modelhub\ncheck(modelhub)\n"
    code += (
        "import modelhub.registry.pulling as p, modelhub.api as a\n"
        "assert modelhub.pull is p.pull and modelhub.pretrained is a.pretrained\n"
        "assert modelhub.resolve is a.resolve\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr


def _lazy_names(module: object) -> set[str]:
    names = set(getattr(module, "__all__", ()))
    names |= set(getattr(module, "_LAZY", {}))
    return names


def test_no_public_name_is_both_a_function_and_a_submodule() -> None:
    clashes = []
    packages = [modelhub] + [
        importlib.import_module(m.name)
        for m in pkgutil.walk_packages(modelhub.__path__, "modelhub.")
        # loaders/ and cli/ belong to other work: the CLI's `main` function
        # re-exported over its `main` submodule is imported eagerly by its
        # package, so it cannot change; the entry point names it.
        if m.ispkg and not m.name.startswith(("modelhub.loaders", "modelhub.cli"))
    ]
    for pkg in packages:
        submodules = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
        modules_by_design = set(getattr(pkg, "_LAZY_MODULES", {}))
        for name in _lazy_names(pkg) - modules_by_design:
            if name in submodules:
                clashes.append(f"{pkg.__name__}.{name}")
    assert clashes == []


def test_every_lazy_export_resolves() -> None:
    """Each name a package exports lazily is found where its table says."""
    import modelhub.cache
    import modelhub.cards
    import modelhub.registry

    missing = []
    for pkg in (modelhub, modelhub.registry, modelhub.cache, modelhub.cards):
        for name in sorted(_lazy_names(pkg)):
            try:
                getattr(pkg, name)
            except AttributeError as exc:
                missing.append(f"{pkg.__name__}.{name}: {exc}")
    assert missing == []
