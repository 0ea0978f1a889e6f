"""The registry: catalog, resolution, fetching and the local cache.

Submodules are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# public name -> defining module
_LAZY: dict[str, str] = {
    "Artifact": "modelhub.registry.artifact",
    "Source": "modelhub.registry.artifact",
    "resolve": "modelhub.registry.resolve",
    "explain": "modelhub.registry.resolve",
    "Catalog": "modelhub.registry.catalog",
    "load_catalog": "modelhub.registry.catalog",
    "pull": "modelhub.registry.pull",
    "pull_artifact": "modelhub.registry.pull",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'modelhub.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = list(_LAZY)
