"""The registry: the catalog, fetching and the local cache, one subpackage
per job with dependencies pointing one way:

* :mod:`.store` — the cache on disk (the lowest part);
* :mod:`.fetch` — downloads, verification, archives and the sources;
* :mod:`.catalog` — what exists and which artifact a request means;
* :mod:`.pulling` and :mod:`.repair` — look up, fetch, install;
* :mod:`.mirror` — mirrors and lock files, on top.

The public names below are imported on first use, so importing the package
stays cheap; none of them is also a submodule's name.
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
    "resolve": "modelhub.registry.catalog.resolve",
    "explain": "modelhub.registry.catalog.resolve",
    "Catalog": "modelhub.registry.catalog.catalog",
    "load_catalog": "modelhub.registry.catalog.catalog",
    "pull": "modelhub.registry.pulling",
    "pull_artifact": "modelhub.registry.pulling",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'modelhub.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = list(_LAZY)
