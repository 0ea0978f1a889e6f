"""Cache maintenance speed: `modelhub cache ls` / `du` wall-clock and
`verify` throughput against `sha256sum` of the same files, in one run.

Builds a cache of synthetic entries through the store's own install API
(small files: a config, a vocabulary and a weights file per entry, plus a
few large entries so that hashing speed, not file opening, shows), then:

- ``modelhub cache ls`` and ``modelhub cache du`` process wall-clock (median
  of repeated runs; target <= 1 s each with 2,000 entries), next to
  ``python -c pass`` for the interpreter's own start;
- ``modelhub cache verify --all`` throughput in MB/s against ``sha256sum``
  (via ``xargs``) on exactly the same files, page cache warm for both,
  alternated runs (target ratio >= 0.9).

    python bench/cache.py [--entries 2000] [--weights-kb 64] [--large 4] [--large-mb 64]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modelhub.registry.store.manifest import FileRecord, Manifest  # noqa: E402
from modelhub.registry.store.store import Store  # noqa: E402


def build(root: Path, n: int, weights_kb: int, large: int, large_mb: int) -> tuple[int, int]:
    """(files, bytes) installed."""
    st = Store(root, fsync=False)
    st.ensure_layout()
    files_total = 0
    bytes_total = 0
    now = time.time()
    langs = ("en", "de", "fr", "es", "xx")
    for i in range(n + large):
        big = i >= n
        name = f"model_{i // 3:04d}" if not big else f"large_{i - n}"
        version = f"{3 + i % 3}.{i % 5}.0"
        lang = langs[i % len(langs)]
        key = f"public/models/{name}_{lang}_{version}_3.0_{1600000000000 + i}.zip"
        staged = st.staging_dir(key)
        weights = os.urandom(large_mb << 20) if big else os.urandom(weights_kb << 10)
        content = {
            "metadata/part-00000": f'{{"class": "BertEmbeddings", "n": {i}}}'.encode(),
            "fields/vocabulary/part-00000": b"token\n" * 300,
            "weights.bin": weights,
        }
        records = []
        for rel, data in content.items():
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            (staged / rel).write_bytes(data)
            records.append(FileRecord(rel, len(data), hashlib.sha256(data).hexdigest()))
            files_total += 1
            bytes_total += len(data)
        record = {
            "name": name,
            "language": lang,
            "lib_version": version,
            "engine": "tensorflow",
            "annotator": "BertEmbeddings",
        }
        src = ("s3", "https", "hf")[i % 3]
        manifest = Manifest(
            key=key,
            content="",
            files=tuple(records),
            kind="zip",
            source={"kind": src, "location": f"{src}://bench/{key}"},
            artifact={"key": key, "record": record, "sources": []},
        )
        entry = st.install(key, staged, manifest)
        if i % 2:
            st.record_use(entry, now=now - i * 600)
        if i % 50 == 0:
            st.set_pinned(key)
    return files_total, bytes_total


def timed(cmd: list[str], env: dict[str, str], stdout: int | None = subprocess.DEVNULL) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT)
    dt = time.perf_counter() - t0
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--entries", type=int, default=2000)
    ap.add_argument("--weights-kb", type=int, default=64)
    ap.add_argument("--large", type=int, default=4, help="extra entries with a large file")
    ap.add_argument("--large-mb", type=int, default=64)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temporary cache")
    args = ap.parse_args()
    if shutil.which("sha256sum") is None:
        sys.exit("sha256sum (coreutils) is needed for the comparison")

    tmp = Path(tempfile.mkdtemp(prefix="modelhub-bench-cache-"))
    root = tmp / "cache"
    try:
        t0 = time.perf_counter()
        nfiles, nbytes = build(root, args.entries, args.weights_kb, args.large, args.large_mb)
        print(
            f"built {args.entries} + {args.large} entries ({nfiles} files, "
            f"{nbytes / 1e6:.0f} MB) through Store.install in {time.perf_counter() - t0:.1f} s"
        )
        env = {**os.environ, "MODELHUB_CACHE": str(root)}
        # The CLI's modules must come from compiled bytecode, as installed.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        py = [sys.executable]
        mh = [*py, "-m", "modelhub", "cache"]
        for cmd in ([*mh, "ls"], [*mh, "du"], [*py, "-c", "pass"]):
            timed(cmd, env)  # warm: bytecode written, page cache filled
        ls_t, du_t, ls_json_t, base_t = [], [], [], []
        for _ in range(args.runs):
            ls_t.append(timed([*mh, "ls"], env))
            du_t.append(timed([*mh, "du"], env))
            ls_json_t.append(timed([*mh, "ls", "--json"], env))
            base_t.append(timed([*py, "-c", "pass"], env))
        med = statistics.median
        print(f"\n`python -c pass`               {med(base_t):.3f} s (interpreter start)")
        for label, ts in (("ls", ls_t), ("ls --json", ls_json_t), ("du", du_t)):
            m = med(ts)
            verdict = "OK" if m <= 1.0 else "OVER 1 s"
            print(f"`modelhub cache {label:<10}`      {m:.3f} s median of {len(ts)}  [{verdict}]")

        files = sorted(str(p) for p in (root / "entries").glob("*/c-*/**/*") if p.is_file())
        listing = tmp / "files.nul"
        listing.write_bytes(b"\0".join(f.encode() for f in files) + b"\0")
        sha_cmd = [
            "sh",
            "-c",
            f"xargs -0 -n 2000 sha256sum < '{listing}' > /dev/null",
        ]
        verify_cmd = [*mh, "verify", "--all", "--json"]
        timed(sha_cmd, env)
        timed(verify_cmd, env)
        vt, st_ = [], []
        for _ in range(max(3, args.runs // 2)):
            vt.append(timed(verify_cmd, env))
            st_.append(timed(sha_cmd, env))
        mv, ms = med(vt), med(st_)
        mb = nbytes / 1e6
        ratio = (mb / mv) / (mb / ms)
        print(
            f"\nverify --all: {mb / mv:.0f} MB/s ({mv:.2f} s, process incl. start)   "
            f"sha256sum: {mb / ms:.0f} MB/s ({ms:.2f} s)   "
            f"ratio {ratio:.2f}x  [{'OK' if ratio >= 0.9 else 'UNDER 0.9x'}]"
        )
        from modelhub.registry.store.integrity import hash_entries

        st = Store(root, fsync=False)
        entries = list(st.entries())
        t0 = time.perf_counter()
        problems, done = hash_entries(entries)
        dt = time.perf_counter() - t0
        assert not any(problems), "a synthetic entry failed verification"
        print(
            f"in-process hash_entries: {done / 1e6 / dt:.0f} MB/s over {len(entries)} entries "
            f"({os.cpu_count()} CPUs)"
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
