"""The cache's on-disk names and rules: format, marker and tag files, the
entry id of an artifact key, and the errors for a root that is not a cache,
a full disk or a directory this user may not write."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import shutil
import stat
from pathlib import Path

from modelhub.config import ENV
from modelhub.errors import CacheError
from modelhub.registry.files import SHARED_DIR_MODE

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


MARKER_NAME = ".modelhub-cache"


MANIFEST_NAME = "manifest.json"


PINNED_NAME = "pinned"


LAST_USED_NAME = "last-used"


LAST_USED_INTERVAL = 3600.0  # seconds between last-used rewrites


DEFAULT_STALE_AFTER = 120.0  # seconds without progress before a lock is taken over


CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by modelhub.\n"
    "# For information about cache directory tags, see https://bford.info/cachedir/\n"
)


# Names modelhub itself puts at the cache root (the catalog index included):
# a root holding anything else and no marker is not ours.
_OWN_NAMES = frozenset(
    {"CACHEDIR.TAG", "catalog", "entries", "downloads", "locks", "tmp", "trash", MARKER_NAME}
)


# Where maintenance deletes things.  Names are not proof of ownership: a root
# without the marker is only taken as a cache while these are empty (what a
# first pull leaves if it stops before writing the marker), so a user's
# ``downloads/`` or ``tmp/`` is never adopted, nor pruned.
_DATA_DIRS = frozenset({"entries", "downloads", "tmp", "trash"})


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def entry_id(key: str) -> str:
    """The directory name for an artifact key: readable and collision-free."""
    slug = _UNSAFE.sub("_", key.replace("/", "--")).strip(".") or "entry"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return f"{slug[:180]}-{digest}"


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def not_a_cache(root: Path, foreign: Path) -> CacheError:
    """The refusal for a root without the marker that holds ``foreign``."""
    what = "is not a directory" if foreign == root else f"holds {foreign}, not made by modelhub"
    return CacheError(
        f"{root} has no {MARKER_NAME} marker and {what}: it is not a modelhub cache, so "
        f"modelhub refuses to use, inspect or delete anything in it; point {ENV['cache_dir']} at "
        "a modelhub cache or an empty directory (if this is a modelhub cache that lost its "
        f"marker and holds nothing of yours, recreate it: touch {root / MARKER_NAME})"
    )


def permission_error(exc: PermissionError, path: Path) -> CacheError:
    """A cache directory this user may not write: in a shared cache, usually
    one made by another member of the group before its modes were shared."""
    where = exc.filename or path
    return CacheError(
        f"permission denied writing {where} in the modelhub cache: check its group "
        "permissions (you must be in the cache's group, and its owner can make the "
        f"directories group-writable: chmod -R g+rwX {path}), or set {ENV['cache_dir']} to a "
        "cache of your own"
    )


def _shared_mkdir(d: Path) -> None:
    """Creates ``d`` (if missing) writable by the group: other members add
    partials, pins and use records there.  chmod because the umask masks mkdir."""
    try:
        d.mkdir(mode=SHARED_DIR_MODE)
    except FileExistsError:
        return
    with contextlib.suppress(OSError):
        os.chmod(d, SHARED_DIR_MODE)


def delete_path(path: Path) -> None:
    """Deletes ``path`` without ever following a symbolic link: a link is
    unlinked, a directory removed with ``rmtree`` (which does not descend
    into links), anything else unlinked."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
