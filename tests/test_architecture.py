"""Dependencies point one way: cards is the base; registry and loaders build on it
and never on each other; api, spark and the CLI sit on top and join them.

Inside the registry the subpackages are layered too: the shared records
(artifact, versions, files) at the bottom, then store/, then fetch/ (sources
stage into the store), then catalog/ (its sync uses the S3 client of fetch),
then pulling and repair, then the mirror's export/import/lock files.  And no
modelhub module takes part in an import cycle, imports inside functions
included (typing-only imports under ``if TYPE_CHECKING:`` never run and are
not counted)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "modelhub"

# component -> modelhub modules it must never import (prefix match)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "cards": (
        "modelhub.registry",
        "modelhub.loaders",
        "modelhub.api",
        "modelhub.cli",
        "modelhub.spark",
        "modelhub.integrations",
    ),
    "registry": (
        "modelhub.loaders",
        "modelhub.api",
        "modelhub.cli",
        "modelhub.spark",
        "modelhub.integrations",
    ),
    # loaders/__init__ re-exports BertEmbeddings from api lazily (the cards'
    # `BertEmbeddings.pretrained` spelling); that string is not an import.
    "loaders": ("modelhub.registry", "modelhub.cli", "modelhub.spark", "modelhub.integrations"),
    # Framework adapters sit on top: they reach models through modelhub.api.
    "integrations": ("modelhub.registry", "modelhub.cli", "modelhub.spark"),
}


R = "modelhub.registry."
_ABOVE_STORE = (
    R + "fetch",
    R + "catalog",
    R + "mirror",
    R + "pulling",
    R + "repair",
    R + "results",
)
# registry part (module or subpackage prefix) -> registry modules it must never import;
# (part, allowed) pairs in ALLOWED are the exceptions.
REGISTRY_LAYERS: dict[str, tuple[str, ...]] = {
    R + "artifact": (R + "store", *_ABOVE_STORE),
    R + "versions": (R + "store", *_ABOVE_STORE),
    R + "files": (R + "store", *_ABOVE_STORE),
    R + "netfail": (R + "store", *_ABOVE_STORE),  # network failures, for fetch and sync
    R + "store": _ABOVE_STORE,
    R + "fetch": (R + "catalog", R + "mirror", R + "pulling", R + "repair", R + "results"),
    R + "catalog": (R + "store", R + "fetch", R + "mirror", R + "pulling", R + "repair"),
    R + "mirror.format": (R + "fetch", R + "catalog", R + "pulling", R + "repair"),
    R + "results": (R + "fetch", R + "catalog", R + "mirror", R + "pulling", R + "repair"),
    R + "repair": (R + "pulling", R + "mirror"),
    R + "pulling": (R + "mirror",),
    R + "mirror": (),  # export, import and lock files sit on top
}
ALLOWED: set[tuple[str, str]] = {
    (R + "fetch.sources.local", R + "mirror.format"),  # the local source reads mirrors
    (R + "catalog.sync", R + "fetch.sources.s3"),  # sync fetches metadata with the S3 client
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer_of(module: str) -> str | None:
    matches = [p for p in REGISTRY_LAYERS if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("component", sorted(FORBIDDEN))
def test_component_imports_point_one_way(component: str) -> None:
    offenders = []
    for path in sorted((PACKAGE / component).rglob("*.py")):
        for module in _imports(path):
            if module.startswith(FORBIDDEN[component]):
                offenders.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    assert offenders == []


def test_checker_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import modelhub.loaders.bert\nfrom modelhub.registry import pull\n")
    assert _imports(sample) == {"modelhub.loaders.bert", "modelhub.registry"}


def test_registry_subpackages_depend_one_way() -> None:
    offenders = []
    for path in sorted((PACKAGE / "registry").rglob("*.py")):
        me = _module_name(path)
        layer = _layer_of(me)
        if layer is None:
            continue
        for module in _imports(path):
            if (me, module) in ALLOWED or module.startswith(layer):
                continue
            if module.startswith(REGISTRY_LAYERS[layer]):
                offenders.append(f"{me} imports {module}")
    assert offenders == []


def test_every_registry_module_has_a_layer() -> None:
    unplaced = [
        _module_name(p)
        for p in sorted((PACKAGE / "registry").rglob("*.py"))
        if _layer_of(_module_name(p)) is None and _module_name(p) != "modelhub.registry"
    ]
    assert unplaced == []


def _layout_report():  # the script in tools/ is the one implementation of the graph
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "layout_report", PACKAGE.parent / "tools" / "layout_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    figures = _layout_report().report(PACKAGE)
    assert figures["cycles"] == []


def test_cycle_finder_sees_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "modelhub"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from modelhub import b\n")
    (pkg / "b.py").write_text("import modelhub.a\n")
    (pkg / "c.py").write_text("TYPE_CHECKING = False\nif TYPE_CHECKING:\n    import modelhub.a\n")
    figures = _layout_report().report(pkg)
    assert figures["cycles"] == [["modelhub.a", "modelhub.b"]]


def test_size_limits() -> None:
    """No module over 600 lines, no function over 100, no folder holding more
    than 3,000 lines of modules directly."""
    figures = _layout_report().report(PACKAGE)
    big = [name for _, name in figures["big_modules"]]
    long = [name for _, name in figures["functions"]]
    assert big == [] and long == []
    assert figures["folder"][1] <= 3000
