"""Hugging Face Hub sources with huggingface_hub (imported only when used).

The revision is resolved to a commit hash first (recorded in the manifest),
the recursive tree listing says which files exist, and only what a loader
needs is downloaded: configuration and tokenizer files plus the weights,
safetensors in preference to pickles.  Every file is then checked against
the listing: its size, the LFS sha256 for large files, the git blob id for
small ones (the same read computes the manifest's sha256).

The endpoint is read from ``HF_ENDPOINT`` at call time and passed
explicitly, so it works however early huggingface_hub was imported.

The files are fetched with ``hf_hub_download`` (four at a time, in threads
of ours) rather than ``snapshot_download``, whose thread pool would not
carry the fetch's limits: every request huggingface_hub makes for a fetch,
API calls included, is held to modelhub's download deadline, size ceiling
and redirect rules by a client of ours (:mod:`.hf_guard`, which says why
that and not modelhub's own engine).  A breach raises the same
``FetchError`` as the engine's, whatever huggingface_hub wrapped it in; the
staging directory, with huggingface_hub's partial files in its ``.cache``,
is deleted on any failure.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelhub.config import ENV, KNOBS
from modelhub.errors import AccessDenied, FetchError, IntegrityError, ModelNotFound, Unreachable
from modelhub.registry.artifact import Source
from modelhub.registry.fetch.sources.base import FetchContext, Fetched
from modelhub.registry.fetch.transport import DownloadOptions
from modelhub.registry.fetch.verify import git_blob_sha1
from modelhub.registry.files import hash_file
from modelhub.registry.netfail import describe, unreachable
from modelhub.registry.store.manifest import FileRecord
from modelhub.registry.store.store import Store

if TYPE_CHECKING:
    from modelhub.registry.fetch.sources import hf_guard

log = logging.getLogger(__name__)

COMMIT = re.compile(r"^[0-9a-f]{40}$")
_CONFIG_NAMES = {
    "vocab.txt",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "source.spm",
    "target.spm",
}
_MODULE_DIR = re.compile(r"^\d+_[A-Za-z]+$")  # sentence-transformers modules: 1_Pooling/


def select_files(paths: list[str]) -> list[str]:
    """Configuration, tokenizer files and one set of weights (safetensors if
    there are any, else PyTorch pickles), from the repo root and
    sentence-transformers module folders."""

    def top_level(p: str) -> bool:
        parts = p.split("/")
        return len(parts) == 1 or (len(parts) == 2 and bool(_MODULE_DIR.match(parts[0])))

    keep = [
        p
        for p in paths
        if top_level(p)
        and (p.endswith(".json") or os.path.basename(p) in _CONFIG_NAMES)
        and not p.endswith(".ipynb")
    ]
    root = [p for p in paths if "/" not in p]
    safetensors = [p for p in root if p.endswith(".safetensors")]
    if safetensors:
        keep += safetensors
    else:
        keep += [p for p in root if re.match(r"^pytorch_model.*\.bin$", p)]
    return sorted(set(keep))


def _map_error(exc: BaseException, repo: str, revision: str, endpoint: str) -> BaseException:
    from huggingface_hub import errors as he

    where = f"{endpoint}/{repo}@{revision}"
    if isinstance(exc, he.GatedRepoError):
        return AccessDenied(
            f"{where}: gated repository; accept its terms and set HF_TOKEN", url=where
        )
    if isinstance(exc, he.RevisionNotFoundError):
        return ModelNotFound(f"revision {revision!r} not found in {repo} ({where})", url=where)
    if isinstance(exc, he.RepositoryNotFoundError | he.EntryNotFoundError):
        return ModelNotFound(f"Hugging Face repository {repo} not found at {where}", url=where)
    if isinstance(exc, he.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return AccessDenied(
                f"{where}: access denied (HTTP {status}); set HF_TOKEN", url=where, status=status
            )
        return FetchError(f"{where}: {exc}", url=where, status=status)
    down = (
        unreachable(exc, endpoint) if _is_transport_error(exc) or isinstance(exc, OSError) else None
    )
    if down is not None:
        return Unreachable(
            f"{where}: {describe(down.reason, down.host)} (the Hugging Face Hub; HF_ENDPOINT "
            "chooses another)",
            url=where,
            host=down.host,
            reason=down.reason,
        )
    if _is_transport_error(exc):
        return FetchError(
            f"{where}: cannot reach the Hugging Face Hub ({exc}); check the network and "
            f"{KNOBS['hf_endpoint'].env}, or pull while online and use {ENV['offline']}=1 "
            "afterwards",
            url=where,
        )
    if isinstance(exc, OSError | ValueError):
        return FetchError(f"{where}: {exc}", url=where)
    return exc


def _is_transport_error(exc: BaseException) -> bool:
    # huggingface_hub's HTTP client (httpx, or its fork httpx2 in 2.x) raises its
    # own connection and timeout errors, which are not OSErrors.
    return any(
        c.__name__ in ("TransportError", "RequestError") and c.__module__.startswith("httpx")
        for c in type(exc).__mro__
    )


def fetch_hf(ctx: FetchContext, source: Source) -> Fetched:
    endpoint = ctx.settings.hf_endpoint.rstrip("/")
    repo = source.location
    revision = source.revision or "main"
    limits = _limits(endpoint, repo, ctx.options)
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.hf_api import RepoFile

        from modelhub.registry.fetch.sources import hf_guard

        with hf_guard.guarded(limits):
            try:
                api = HfApi(endpoint=endpoint)
                commit = (
                    revision
                    if COMMIT.match(revision)
                    else api.model_info(repo, revision=revision).sha
                )
                if not commit:
                    raise FetchError(f"{endpoint}/{repo}@{revision}: the Hub sent no commit hash")
                tree = {
                    f.path: f
                    for f in api.list_repo_tree(repo, revision=commit, recursive=True)
                    if isinstance(f, RepoFile)
                }
                wanted = select_files(list(tree))
                if not wanted:
                    raise ModelNotFound(
                        f"{repo}@{commit}: no configuration or weights files to download",
                        url=f"{endpoint}/{repo}",
                    )
                sizes = {p: _listed_size(tree[p]) for p in wanted}
                total = sum(sizes.values())
                staged = ctx.store.staging_dir(ctx.key)
                try:
                    _download(
                        repo, commit, sizes, staged, endpoint, limits, _progress_bars(ctx, total)
                    )
                    shutil.rmtree(staged / ".cache", ignore_errors=True)
                    files = _check_files(ctx.artifact.name, staged, wanted, tree)
                except BaseException:
                    shutil.rmtree(staged, ignore_errors=True)
                    raise
            except Exception as exc:
                cause = hf_guard.error_for(limits, exc)
                if cause is not exc:
                    raise cause from exc
                raise
    except (IntegrityError, FetchError, ModelNotFound):
        raise  # Unreachable included
    except Exception as exc:
        mapped = _map_error(exc, repo, revision, endpoint)
        if mapped is exc:
            raise
        raise mapped from exc
    total = sum(f.size for f in files)
    info: dict[str, Any] = {"url": f"{endpoint}/{repo}", "revision": revision, "size": total}
    if limits.final_urls:
        # Files another host served (a CDN, a mirror's redirect): recorded
        # like the own engine's final_url, one per file.
        info["final_urls"] = dict(sorted(limits.final_urls.items()))
    return Fetched(staged, files, "hf", source, info, commit=commit, transferred=total)


def _limits(endpoint: str, repo: str, opts: DownloadOptions | None) -> hf_guard.HubLimits:
    """The deadline and size ceiling of a fetch from the Hub (the download
    options, else the settings)."""
    from modelhub.registry.fetch.sources import hf_guard

    if opts is None:
        from modelhub.config import load_settings

        settings = load_settings()
        deadline, max_bytes = settings.download_deadline, settings.download_max_bytes
    else:
        deadline, max_bytes = opts.deadline, opts.max_bytes
    return hf_guard.HubLimits(
        f"{endpoint}/{repo}", endpoint, deadline=deadline, max_bytes=max_bytes
    )


def _download(
    repo: str,
    commit: str,
    sizes: dict[str, int],
    staged: Path,
    endpoint: str,
    limits: hf_guard.HubLimits,
    bars: type | None,
) -> None:
    """``hf_hub_download`` of each file into ``staged``, four at a time, in
    worker threads that carry the fetch's limits (a copy of this context)."""
    from huggingface_hub import hf_hub_download, hf_hub_url

    for rel, size in sizes.items():
        limits.expect(hf_hub_url(repo, rel, revision=commit, endpoint=endpoint), rel, size)
    limits.watch.sized(sum(sizes.values()))

    def one(rel: str) -> None:
        hf_hub_download(
            repo, rel, revision=commit, local_dir=staged, endpoint=endpoint, tqdm_class=bars
        )

    with ThreadPoolExecutor(
        max_workers=min(4, len(sizes)), thread_name_prefix="modelhub-hf"
    ) as pool:
        futures = [pool.submit(contextvars.copy_context().run, one, rel) for rel in sizes]
        try:
            for future in as_completed(futures):
                future.result()
        except BaseException:
            limits.cancel()  # the other files stop at their next request
            for future in futures:
                future.cancel()
            raise


def _listed_size(info: Any) -> int:
    return int(info.lfs.size if info.lfs is not None else info.size)


def _progress_bars(ctx: FetchContext, total: int) -> type:
    """A tqdm class for ``hf_hub_download`` that draws nothing and turns the
    Hub client's byte counts into modelhub's progress callback (the one bar
    modelhub draws on a terminal, or the caller's callback) and the artifact
    lock's heartbeat, so that a process waiting for this download sees it
    alive and does not take it over.  Given as a class, not through
    ``disable_progress_bars()``, which would silence the user's own Hub bars
    for the rest of the process."""
    from tqdm.auto import tqdm

    progress = ctx.options.progress
    heartbeat = ctx.options.heartbeat
    counts: dict[int, int] = {}
    lock = threading.Lock()
    if progress is not None:
        progress(0, total)

    def report(bar: int, n: float | None) -> None:
        # Under the lock: the Hub client's threads must not report out of order.
        with lock:
            if bar:
                counts[bar] = counts.get(bar, 0) + int(n or 0)
            # One byte bar per file: the progress is their sum.
            done = max(0, min(sum(counts.values()), total))
            if progress is not None and bar:
                progress(done, total)
            if heartbeat is not None:
                heartbeat(done)

    class _Bars(tqdm):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self._counts_bytes = kwargs.get("unit") == "B"
            kwargs.pop("name", None)
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            # Byte bars report bytes; the others (files fetched) only show
            # that the download is alive.
            report(id(self) if self._counts_bytes else 0, n)
            return super().update(n)

    return _Bars


def _check_files(
    artifact: str, staged: Path, wanted: list[str], tree: dict[str, Any]
) -> list[FileRecord]:
    out: list[FileRecord] = []
    for rel in wanted:
        info = tree[rel]
        path = staged / rel
        if not path.is_file():
            raise IntegrityError(
                f"{artifact}: {rel} was not downloaded", artifact=artifact, expected=rel
            )
        lfs = info.lfs
        size_expected = _listed_size(info)
        blob = git_blob_sha1(path.stat().st_size) if lfs is None else None
        feed = None if blob is None else blob.update  # the git blob id, same read
        got = hash_file(path, sink=None if feed is None else lambda block, _pos, f=feed: f(block))
        size, digest = got.size, got.sha256
        if size != size_expected:
            _fail(artifact, rel, "size", str(size_expected), str(size))
        if lfs is not None and digest != lfs.sha256:
            _fail(artifact, rel, "sha256", lfs.sha256, digest)
        if blob is not None and info.blob_id and blob.hexdigest() != info.blob_id:
            _fail(artifact, rel, "git blob id", info.blob_id, blob.hexdigest())
        out.append(FileRecord(rel, size, digest))
    return out


def _fail(artifact: str, rel: str, what: str, expected: str, actual: str) -> None:
    raise IntegrityError(
        f"{artifact}: {rel}: {what} mismatch: expected {expected}, got {actual}; "
        "nothing was installed",
        artifact=artifact,
        expected=expected,
        actual=actual,
    )


def fetch_hf_files(
    store: Store,
    key: str,
    src: Source,
    commit: str,
    paths: list[str],
    *,
    endpoint: str,
    opts: DownloadOptions | None = None,
) -> Fetched:
    """Only ``paths`` of a Hugging Face repo at ``commit``, into a staging
    directory (checked against the manifest by the caller), under the same
    limits as :func:`fetch_hf` (``opts``, else the settings)."""
    endpoint = endpoint.rstrip("/")
    limits = _limits(endpoint, src.location, opts)
    files: list[FileRecord] = []
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.hf_api import RepoFile

        from modelhub.registry.fetch.sources import hf_guard

        with hf_guard.guarded(limits):
            staged = store.staging_dir(key)
            try:
                tree = {
                    f.path: f
                    for f in HfApi(endpoint=endpoint).list_repo_tree(
                        src.location, revision=commit, recursive=True
                    )
                    if isinstance(f, RepoFile)
                }
                missing = [p for p in paths if p not in tree]
                if missing:
                    raise ModelNotFound(
                        f"{src.location}@{commit}: {', '.join(missing[:5])} not in the repository",
                        url=f"{endpoint}/{src.location}",
                    )
                sizes = {p: _listed_size(tree[p]) for p in paths}
                _download(src.location, commit, sizes, staged, endpoint, limits, None)
                for rel in paths:
                    got = hash_file(staged / rel)
                    files.append(FileRecord(rel, got.size, got.sha256))
                shutil.rmtree(staged / ".cache", ignore_errors=True)
            except BaseException as exc:
                shutil.rmtree(staged, ignore_errors=True)
                cause = hf_guard.error_for(limits, exc)
                if cause is not exc:
                    raise cause from exc
                raise
    except (IntegrityError, FetchError, ModelNotFound):
        raise
    except Exception as exc:
        mapped = _map_error(exc, src.location, commit, endpoint)
        if mapped is exc:
            raise
        raise mapped from exc
    total = sum(f.size for f in files)
    info: dict[str, Any] = {"url": f"{endpoint}/{src.location}", "revision": commit, "size": total}
    if limits.final_urls:
        info["final_urls"] = dict(sorted(limits.final_urls.items()))
    return Fetched(staged, files, "hf", src, info, commit=commit, transferred=total)
