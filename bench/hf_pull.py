"""Hugging Face source speed: modelhub's pull (huggingface_hub on modelhub's
guarded client, ``hf_hub_download`` four files at a time) vs plain
``huggingface_hub.snapshot_download`` of the same files (what the source did
before it had download limits), against the suite's local Hub server.

The repo has a configuration, a tokenizer and ``--size-mb`` of safetensors
weights split in ``--shards`` files.  Each round runs both, fresh cache and
folder each time, alternating which goes first; the script prints medians
and the ratios to plain (1.0 = as fast): the file downloads alone under
the guard (its cost), and the whole pull (with verification and install).  The server is Python's
``http.server`` in the same process, so both share its speed limit; the
figure says what the guard and modelhub's checks cost on top.

    python bench/hf_pull.py [--size-mb 256] [--shards 2] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    from tests.servers.hf import HubServer

    hub = HubServer()
    work = Path(tempfile.mkdtemp(prefix="modelhub-bench-hf-"))
    os.environ.update(
        {
            "HF_ENDPOINT": hub.endpoint,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_HOME": str(work / "hf"),
            "MODELHUB_FSYNC": "0",
        }
    )
    shard = args.size_mb * (1 << 20) // args.shards
    files = {
        "config.json": b'{"model_type": "bert", "hidden_size": 8}',
        "tokenizer.json": b'{"version": "1.0"}' * 1000,
        "vocab.txt": b"[PAD]\n[UNK]\nhello\n" * 1000,
    }
    for i in range(args.shards):
        files[f"model-{i + 1:05d}-of-{args.shards:05d}.safetensors"] = os.urandom(shard)
    repo = "bench/tiny-bert"
    commit = hub.add_repo(repo, files)

    from huggingface_hub import snapshot_download

    from modelhub.registry.artifact import Source
    from modelhub.registry.fetch.sources.hf import select_files
    from modelhub.registry.pulling import pull_result
    from tests.fetch.conftest import artifact

    wanted = select_files(list(files))

    def plain(i: int) -> float:
        target = work / f"plain-{i}"
        t0 = time.perf_counter()
        snapshot_download(
            repo, revision=commit, local_dir=target, allow_patterns=wanted, max_workers=4
        )
        dt = time.perf_counter() - t0
        shutil.rmtree(target)
        return dt

    def guarded(i: int) -> float:
        """Only the file downloads, as modelhub runs them (hf_hub_download,
        four threads, under the limits): the guard's cost alone."""
        from modelhub.registry.fetch.sources import hf_guard
        from modelhub.registry.fetch.sources.hf import _download

        target = work / f"guarded-{i}"
        t0 = time.perf_counter()
        limits = hf_guard.HubLimits(hub.endpoint, hub.endpoint, deadline=None, max_bytes=1 << 40)
        with hf_guard.guarded(limits):
            sizes = {p: len(files[p]) for p in wanted}
            _download(repo, commit, sizes, target, hub.endpoint, limits, None)
        dt = time.perf_counter() - t0
        shutil.rmtree(target)
        return dt

    def modelhub(i: int) -> float:
        cache = work / f"cache-{i}"
        os.environ["MODELHUB_CACHE"] = str(cache)
        t0 = time.perf_counter()
        r = pull_result(artifact(Source("hf", repo, commit), name="bench_bert"))
        dt = time.perf_counter() - t0
        assert r.transferred == sum(len(files[p]) for p in wanted)
        shutil.rmtree(cache)
        return dt

    plain(-1)  # warm every path (imports, connections)
    guarded(-1)
    modelhub(-1)
    times: dict[str, list[float]] = {"plain": [], "guarded": [], "modelhub": []}
    for i in range(args.repeat):
        order = (("plain", plain), ("guarded", guarded), ("modelhub", modelhub))
        for name, fn in order if i % 2 == 0 else reversed(order):
            times[name].append(fn(i))
    hub.close()
    shutil.rmtree(work, ignore_errors=True)
    mb = sum(len(files[p]) for p in wanted) / 1e6
    p, g, m = (statistics.median(times[k]) for k in ("plain", "guarded", "modelhub"))
    load = os.getloadavg()[0]
    print(f"{mb:.0f} MB in {len(wanted)} files, {args.repeat} rounds, load {load:.2f}")
    print(f"  snapshot_download (no limits):      {p:6.3f} s  {mb / p:7.1f} MB/s")
    print(f"  hf_hub_download x4 under the guard: {g:6.3f} s  {mb / g:7.1f} MB/s")
    print(f"  modelhub pull (+ verify, install):  {m:6.3f} s  {mb / m:7.1f} MB/s")
    print(f"  ratio guarded / plain:              {g / p:6.2f}")
    print(f"  ratio modelhub pull / plain:        {m / p:6.2f}")


if __name__ == "__main__":
    main()
