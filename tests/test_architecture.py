"""Dependencies point one way: cards is the base; registry and loaders build on it
and never on each other; api, spark and the CLI sit on top and join them."""

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
