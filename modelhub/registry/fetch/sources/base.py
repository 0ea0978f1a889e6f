"""Where an artifact's bytes come from: HTTP(S), S3, the Hugging Face Hub and
local mirrors.  Every source ends in :func:`finish_object` (one downloaded
object) or builds a staged directory itself (Hugging Face snapshots); both
hand :mod:`modelhub.registry.pulling` a :class:`Fetched` to install."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from modelhub.config import Settings
from modelhub.errors import CacheError, IntegrityError
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.fetch.transport import DownloadOptions, DownloadResult
from modelhub.registry.fetch.verify import Expectations, check
from modelhub.registry.files import Digests
from modelhub.registry.store.manifest import FileRecord
from modelhub.registry.store.store import Partial, Store

log = logging.getLogger(__name__)


@dataclass
class FetchContext:
    store: Store
    artifact: Artifact
    key: str
    options: DownloadOptions
    settings: Settings
    progress_total: Callable[[int | None], None] | None = None  # told the size once known
    extract_limits: Any = None


@dataclass
class Fetched:
    """Verified files in a staging directory, ready for Store.install."""

    staged: Path
    files: list[FileRecord]
    kind: str  # "zip" | "file" | "hf"
    source: Source
    download: dict[str, Any] = field(default_factory=dict)
    commit: str | None = None
    transferred: int = 0


def expectations(artifact: Artifact, **remote: Any) -> Expectations:
    """The catalog's promises (MD5 checksum, pinned sha256) merged with what
    the remote says (size, ETag MD5, x-amz-checksum-sha256, multipart ETag)."""
    md5 = artifact.checksum.strip().lower() if artifact.checksum else None
    md5_from = "catalog checksum"
    if not md5 and remote.get("md5"):
        md5, md5_from = remote["md5"], "S3 ETag"
    return Expectations(
        size=remote.get("size"),
        sha256=artifact.sha256,
        md5=md5 or None,
        md5_from=md5_from,
        sha256_b64=remote.get("sha256_b64"),
        multipart_etag=remote.get("multipart_etag"),
    )


def artifact_filename(artifact: Artifact, location: str) -> str:
    if artifact.record.artifact:
        return os.path.basename(artifact.record.artifact)
    path = unquote(urlparse(location).path) if "://" in location else location
    return os.path.basename(path.rstrip("/")) or f"{artifact.name}.bin"


def is_zip_name(name: str) -> bool:
    return name.lower().endswith(".zip")


def finish_object(
    ctx: FetchContext,
    partial: Partial,
    digests: Digests,
    exp: Expectations,
    source: Source,
    filename: str,
    download: dict[str, Any],
    transferred: int,
) -> Fetched:
    """Checks the downloaded object, then extracts (zip) or moves it (plain
    file) into a new staging directory.  On any failure the partial and the
    staging directory are deleted."""
    staged: Path | None = None
    try:
        checked = check(ctx.artifact.name, digests, exp)
        log.debug("%s verified: %s", filename, ", ".join(checked) or "nothing to compare")
        staged = ctx.store.staging_dir(ctx.key)
        info = {
            **download,
            "size": digests.size,
            "sha256": digests.sha256,
            "md5": digests.md5,
            "checked": checked,
            "filename": filename,
        }
        if is_zip_name(filename):
            from modelhub.registry.fetch.archive import extract_zip

            files = extract_zip(
                partial.path, staged, artifact=ctx.artifact.name, limits=ctx.extract_limits
            )
            partial.discard()
            kind = "zip"
        else:
            target = staged / filename
            os.rename(partial.path, target)
            partial.discard()  # the sidecar; the bytes moved away
            files = [FileRecord(filename, digests.size, digests.sha256)]
            kind = "file"
        return Fetched(staged, files, kind, source, info, transferred=transferred)
    except BaseException:
        partial.discard()
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
        raise


def received_nothing(partial: Partial) -> bool:
    """Whether no byte of the object reached ``partial`` (its file is empty)."""
    try:
        return os.fstat(partial.fd).st_size == 0 if partial.fd >= 0 else False
    except OSError:
        return False


def run_download(
    ctx: FetchContext,
    transport: Any,
    source: Source,
    *,
    remote_exp: Callable[[DownloadResult], dict[str, Any]],
    md5: Any,
    part_size: Any = None,
) -> Fetched:
    """Downloads one object through ``transport`` with resume, verifies it
    and stages it.  A verification failure after a resume is retried once
    from zero (the kept bytes may be what is wrong)."""
    from modelhub.registry.fetch.download import download

    filename = artifact_filename(ctx.artifact, source.location)
    for attempt in (1, 2):
        partial = ctx.store.open_partial(ctx.key, transport.url)
        try:
            result = download(transport, partial, ctx.options, md5=md5, part_size=part_size)
        except CacheError:
            partial.discard()  # disk full: leave nothing partial behind
            raise
        except BaseException:
            if received_nothing(partial):
                # nothing to resume (no such host, refused): no empty
                # .part/.json for `cache ls` to report as a download
                partial.discard()
                with contextlib.suppress(OSError):
                    partial.path.parent.rmdir()  # only when empty
            else:
                partial.close()  # keep the bytes and sidecar for resume
            raise
        exp = expectations(ctx.artifact, size=result.total, **remote_exp(result))
        info = {
            "url": transport.url,
            "etag": result.etag,
            "version_id": result.version_id,
            "resumed": result.resumed,
            "restarts": result.restarts,
        }
        final = getattr(transport, "final_url", None)
        if final and urlparse(final).netloc != urlparse(transport.url).netloc:
            # another host served the bytes: say which (a new, optional key)
            info["final_url"] = final
            log.info("%s was served by %s", transport.url, final)
        try:
            return finish_object(
                ctx, partial, result.digests, exp, source, filename, info, result.total
            )
        except IntegrityError:
            if attempt == 1 and result.resumed:
                log.warning("%s failed verification after a resume; downloading again", filename)
                continue
            raise
    raise AssertionError("unreachable")


def is_private(artifact: Artifact, settings: Settings, location: str = "") -> bool:
    folder = artifact.record.folder or ""
    private = tuple(f.strip("/") for f in settings.private_folders)
    if folder.strip("/") in private:
        return True
    return any(f"/{p}/" in location for p in private)
