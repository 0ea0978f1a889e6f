"""Locks and leases in ``locks/``: :class:`ArtifactLock` (stops duplicate
downloads, taken over when its holder is dead or stalled) and
:class:`EntryLease` (a shared ``flock`` held by every process using an
entry, so prune and rm leave it alone)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.registry.files import LOCK_MODE, atomic_write
from modelhub.registry.store.layout import DEFAULT_STALE_AFTER, permission_error
from modelhub.saferead import read_json

log = logging.getLogger(__name__)


@dataclass
class ArtifactLock:
    """A per-artifact lock that only stops duplicate downloads.

    The holder records host, pid, start and last-progress time in
    ``locks/<id>.json``.  A waiter takes over (proceeds without the lock) when
    the holder is a dead process on this host or has shown no progress for
    ``stale_after`` seconds; that is safe because nothing depends on the lock.
    ``ready()`` lets a waiter stop waiting as soon as the entry is complete.
    """

    path: Path
    info_path: Path
    stale_after: float = DEFAULT_STALE_AFTER
    poll: float = 0.1
    held: bool = False
    taken_over: bool = False
    _lock: Any = None
    _last_beat: float = 0.0

    def acquire(self, ready: Callable[[], bool] | None = None) -> bool:
        """Blocks until the lock is ours, the holder is stale, or ``ready()``
        is true.  Returns True when the caller should (re)check the cache
        only, i.e. ``ready()`` said the entry is there."""
        from filelock import FileLock, Timeout

        self._lock = FileLock(str(self.path), mode=LOCK_MODE)
        waited_since = time.monotonic()
        announced = False
        while True:
            try:
                self._lock.acquire(timeout=self.poll)
            except Timeout:
                pass
            except PermissionError as exc:
                raise permission_error(exc, self.path.parent) from exc
            else:
                self.held = True
                with contextlib.suppress(OSError):
                    os.chmod(self.path, LOCK_MODE)
                self.beat(0, force=True)
                return False
            if ready is not None and ready():
                return True
            info = self.holder()
            if info is not None and self._is_stale(info):
                log.warning(
                    "taking over the download lock %s held by pid %s on %s "
                    "(no progress for %.0f s)",
                    self.path.name,
                    info.get("pid"),
                    str(info.get("host"))[:80],
                    time.time() - info["updated"],
                )
                self.taken_over = True
                self.beat(0, force=True)
                return False
            if info is None and time.monotonic() - waited_since > self.stale_after:
                log.warning("taking over the download lock %s (holder unknown)", self.path.name)
                self.taken_over = True
                return False
            if not announced and time.monotonic() - waited_since > 1.0:
                announced = True
                log.info("waiting for another process downloading the same artifact (%s)", info)

    def _is_stale(self, info: dict[str, Any]) -> bool:
        """Stale when its process is gone, or its last progress is older than
        ``stale_after``, or lies in the future (a clock cannot be trusted
        to catch up: a holder stamped years ahead would block forever)."""
        age = time.time() - info["updated"]
        if age < -self.stale_after:
            return True
        pid = info.get("pid")
        if (
            info.get("host") == socket.gethostname()
            and type(pid) is int
            and pid != os.getpid()  # alive: this very process (another thread)
            and 0 < pid < 1 << 31
            and not _pid_alive(pid)
        ):
            return True
        return age > self.stale_after

    def holder(self) -> dict[str, Any] | None:
        """The recorded holder, or None when there is none we can trust
        (absent, unreadable, not a regular file, wrong types): a waiter
        treats an unknown holder as stale after ``stale_after``."""
        try:
            data = read_json(self.info_path, limit=1 << 16)
        except (OSError, ValueError):
            return None
        updated = data.get("updated")
        if type(updated) not in (int, float) or not math.isfinite(updated):
            return None
        return data

    def beat(self, done: int, *, force: bool = False) -> None:
        """Records progress (at most once a second) so waiters see we are alive."""
        now = time.time()
        if not force and now - self._last_beat < 1.0:
            return
        self._last_beat = now
        info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "start": getattr(self, "_start", now),
            "updated": now,
            "bytes": done,
        }
        self._start = info["start"]  # type: ignore[attr-defined]
        with contextlib.suppress(OSError):
            atomic_write(self.info_path, json.dumps(info).encode(), fsync=False, mode=LOCK_MODE)

    def release(self) -> None:
        if self.held or self.taken_over:
            info = self.holder()
            if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
                with contextlib.suppress(OSError):
                    self.info_path.unlink()
        if self.held and self._lock is not None:
            self._lock.release()
        self.held = False

    def __enter__(self) -> ArtifactLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EntryLease:
    """A ``flock`` on ``locks/<id>.use`` held through an open descriptor:
    shared by every process that uses an entry, exclusive (and never waited
    for) by whoever removes one.  The kernel drops it when the descriptor is
    closed, so a crashed user never keeps an entry pinned; it is released by
    :meth:`release`, on ``with`` exit, or when the object is collected."""

    def __init__(self, path: Path, fd: int, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._fd = fd
        self._finalizer = weakref.finalize(self, _close_fd, fd)

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def release(self) -> None:
        self._finalizer()

    def __enter__(self) -> EntryLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        kind = "exclusive" if self.exclusive else "shared"
        return f"<EntryLease {kind} {self.path.name} {'held' if self.held else 'released'}>"


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _open_use_file(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, LOCK_MODE)
    except OSError:
        try:  # a read-only shared cache: flock works on a read-only descriptor too
            return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
    # The umask masked the mode: other members of the group open it too.  Only
    # the owner may chmod; anyone else's file keeps the mode its owner gave it.
    with contextlib.suppress(OSError):
        os.fchmod(fd, LOCK_MODE)
    return fd
