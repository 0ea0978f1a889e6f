"""Local sources: mirror directories (laid out like the remote), ``file://``
URLs and files bundled in Python packages (``package:<module>/<path>``).

A mirror of the S3 bucket holds ``<mirror>/<folder>/<artifact>`` (e.g.
``/mnt/mirror/public/models/ner_dl_en_….zip``) or just ``<mirror>/<artifact>``;
a mirror of a Hugging Face repo holds ``<mirror>/hf/<owner>/<repo>/<revision>/``
with the repo's files; any other model (e.g. one only shipped as a Python
package) is in ``<mirror>/models/<name>_<lang>/``, as ``modelhub export``
writes it.  Bytes are copied and hashed in one pass and go
through the same checks as downloads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from modelhub.errors import ModelNotFound
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.fetch.sources.base import (
    FetchContext,
    Fetched,
    artifact_filename,
    expectations,
    finish_object,
)
from modelhub.registry.files import copy_hashing, hash_file, write_all
from modelhub.registry.store.manifest import FileRecord


def local_path(location: str) -> Path:
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path))
    if location.startswith("package:"):
        import importlib.util

        spec = location[len("package:") :]
        module, _, rel = spec.partition("/")
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise ModelNotFound(f"package {module!r} is not installed (source {location})")
        base = Path(next(iter(found.submodule_search_locations)))
        return base / rel if rel else base
    return Path(location).expanduser()


def candidates(artifact: Artifact, root: Path) -> list[Path]:
    """Where a mirror rooted at ``root`` may hold the artifact."""
    if root.is_file():
        return [root]
    out: list[Path] = []
    r = artifact.record
    if r.artifact:
        out += [root / (r.folder or "public/models") / r.artifact, root / r.artifact]
    hf = next((s for s in artifact.sources if s.kind == "hf"), None)
    if hf is not None:
        out.append(root / "hf" / hf.location / (hf.revision or "main"))
    if not out:  # neither a file name nor a Hub repo: where `modelhub export` puts it
        out.append(root / "models" / f"{r.name}_{r.language or 'xx'}")
    return out


def fetch_local(ctx: FetchContext, source: Source) -> Fetched:
    if source.kind == "package" or source.location.startswith("package:"):
        from modelhub.registry.fetch.sources.package import fetch_package

        return fetch_package(ctx, source)  # verified against the package's RECORD
    root = local_path(source.location)
    found = next((p for p in candidates(ctx.artifact, root) if p.exists()), None)
    if found is None and root.is_dir() and source.kind in ("package", "file"):
        found = root
    if found is None:
        raise ModelNotFound(
            f"{ctx.artifact.name} is not in the local source {source.location}", url=str(root)
        )
    fetched = _copy_dir(ctx, found, source) if found.is_dir() else _copy_file(ctx, found, source)
    if source.kind == "mirror":
        from modelhub.registry.mirror.format import check_copy

        check_copy(ctx.artifact.name, root, found, fetched)  # against modelhub-mirror.json
    return fetched


def _copy_file(ctx: FetchContext, path: Path, source: Source) -> Fetched:
    url = path.resolve().as_uri()
    partial = ctx.store.open_partial(ctx.key, url)
    partial.reset()
    try:
        size = path.stat().st_size
        if ctx.progress_total is not None:
            ctx.progress_total(size)
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            if ctx.options.progress is not None:
                ctx.options.progress(done[0], size)

        fd = partial.fd
        digests = hash_file(
            path,
            md5=bool(ctx.artifact.checksum),
            sink=lambda block, pos: write_all(fd, block, pos),
            progress=progress,
        )
    except BaseException:
        partial.discard()
        raise
    filename = artifact_filename(ctx.artifact, str(path))
    exp = expectations(ctx.artifact, size=size)
    return finish_object(ctx, partial, digests, exp, source, filename, {"url": url}, 0)


def _copy_dir(ctx: FetchContext, root: Path, source: Source) -> Fetched:
    staged = ctx.store.staging_dir(ctx.key)
    files: list[FileRecord] = []
    try:
        for dirpath, dirnames, names in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for n in sorted(names):
                src = Path(dirpath) / n
                if n.startswith(".") or src.is_symlink() or not src.is_file():
                    continue
                rel = src.relative_to(root).as_posix()
                dst = staged / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                got = copy_hashing(src, dst)
                files.append(FileRecord(rel, got.size, got.sha256))
        if not files:
            raise ModelNotFound(f"{root} holds no files for {ctx.artifact.name}")
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    total = sum(f.size for f in files)
    return Fetched(staged, files, "dir", source, {"url": root.resolve().as_uri(), "size": total})
