"""Where the catalog keeps its files under the cache (``<cache>/catalog/``):
the metadata copies ``catalog sync`` writes, the cards ``modelhub import``
brought in, and the card folders of configured mirrors."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from modelhub.config import Settings


def catalog_dir(settings: Settings) -> str:
    return os.path.join(settings.path_text("cache_dir"), "catalog")


IMPORTED_CARDS = "imported-cards"  # under catalog/: cards that `modelhub import` brought in


def mirror_card_dirs(settings: Settings) -> list[str]:
    """Card folders that come from mirrors: the cards ``modelhub import``
    copied into the cache and the ``cards/`` folder of each configured
    mirror (see :mod:`modelhub.registry.mirror.format`). Only stats: warm path."""
    out = [os.path.join(catalog_dir(settings), IMPORTED_CARDS)]
    for m in settings.mirrors:
        path = m[len("file://") :] if m.startswith("file://") else os.path.expanduser(m)
        out.append(os.path.join(path, "cards"))
    return [p for p in out if os.path.isdir(p)]


def metadata_copy_path(settings: Settings, folder: str, bucket: str | None = None) -> str:
    """Where ``catalog sync`` keeps the copy of ``{bucket}/{folder}/metadata.json``."""
    return os.path.join(
        catalog_dir(settings),
        "metadata",
        bucket or settings.bucket,
        *folder.split("/"),
        "metadata.json",
    )
