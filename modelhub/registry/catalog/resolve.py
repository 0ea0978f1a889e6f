"""``resolve(name, lang)`` and ``explain``: resolution (see
:mod:`modelhub.registry.catalog.resolution` for the rule) in the given
catalog or, by default, the process-wide one built from the settings.

The default catalog's inputs are re-checked at most every few seconds, and
at once when a variable that selects them changes
(:data:`modelhub.config.CATALOG_ENV`).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from modelhub.config import catalog_environment
from modelhub.registry.catalog import resolution
from modelhub.registry.catalog.resolution import DEFAULT_FOLDER, Explanation

if TYPE_CHECKING:
    from modelhub.registry.artifact import Artifact
    from modelhub.registry.catalog.catalog import Catalog

__all__ = ["DEFAULT_FOLDER", "default_catalog", "explain", "reset_default_catalog", "resolve"]

_RECHECK_S = 5.0

# [Catalog, monotonic time of the last freshness check, environment it was built from]
_default: list[Any] = [None, 0.0, None]


def default_catalog() -> Catalog:
    """The process-wide catalog from the environment and config."""
    from modelhub.registry.catalog.catalog import load_catalog

    cat, checked, env = _default
    now = time.monotonic()
    current = catalog_environment()
    if cat is None or env != current or now - checked > _RECHECK_S:
        cat = load_catalog()
        _default[0], _default[1], _default[2] = cat, now, current
    return cat


def reset_default_catalog() -> None:
    _default[0], _default[1], _default[2] = None, 0.0, None


def resolve(
    name: str,
    lang: str | None = "en",
    *,
    version: str | None = None,
    folder: str | None = DEFAULT_FOLDER,
    source: str | None = None,
    engines: Collection[str] | None = None,
    lib_version: str | None = None,
    spark_version: str | None = None,
    catalog: Catalog | None = None,
) -> Artifact:
    """The artifact ``pretrained(name, lang)`` means.

    ``folder=None`` searches every folder; ``lib_version``/``spark_version``
    default to the configured targets (none: no upper bound). Raises
    :class:`~modelhub.errors.ModelNotFound` (with ``suggestions`` and
    ``languages``), never returns None.
    """
    return resolution.resolve(
        name,
        lang,
        version=version,
        folder=folder,
        source=source,
        engines=engines,
        lib_version=lib_version,
        spark_version=spark_version,
        catalog=catalog if catalog is not None else default_catalog(),
    )


def explain(
    name: str,
    lang: str | None = "en",
    *,
    version: str | None = None,
    folder: str | None = DEFAULT_FOLDER,
    source: str | None = None,
    engines: Collection[str] | None = None,
    lib_version: str | None = None,
    spark_version: str | None = None,
    catalog: Catalog | None = None,
) -> Explanation:
    """Every artifact of the name, in rank order, with why it was picked,
    ranked lower or rejected. Unknown names raise ``ModelNotFound``."""
    return resolution.explain(
        name,
        lang,
        version=version,
        folder=folder,
        source=source,
        engines=engines,
        lib_version=lib_version,
        spark_version=spark_version,
        catalog=catalog if catalog is not None else default_catalog(),
    )
