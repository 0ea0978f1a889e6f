"""How fast are cards parsed? Builds N cards by varying the real corpus, writes
them to a temporary folder and times, side by side in one run on one core:

* reading every file (open, read, decode), the floor;
* ``load_card`` on every file (read + parse).

    python bench/parse_cards.py [--cards 20000] [--corpus ../shared/corpus] [--profile]

Target: >= 3,000 cards/s.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from modelhub.cards import load_card  # noqa: E402
from modelhub.cards.loader import read_card_text  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
_ZIP_RE = re.compile(r"(_\d+(?:\.\d+)+_\d+(?:\.\d+)*_)(\d{10,})(\.zip)")
_NAME_RE = re.compile(r"^name: *(.+)$", re.MULTILINE)


def vary(text: str, i: int, rng: random.Random) -> str:
    """A distinct card from a real one: new name, timestamp, date, size."""
    suffix = f"v{i}"
    text = _ZIP_RE.sub(lambda m: f"{m.group(1)}{1_600_000_000_000 + i}{m.group(3)}", text)
    text = _NAME_RE.sub(lambda m: f"name: {m.group(1).strip()}_{suffix}", text, count=1)
    text = text.replace("411.0 MB", f"{rng.randint(1, 999)}.{rng.randint(0, 9)} MB")
    if rng.random() < 0.3:
        text += f"\n\nSome notes for variant {i}.\n"
    return text


def build(corpus: Path, n: int, out: Path) -> list[Path]:
    sources = [p.read_text(encoding="utf-8") for p in sorted((corpus / "cards").glob("*.md"))]
    rng = random.Random(42)
    paths = []
    for i in range(n):
        path = out / f"card_{i:05d}.md"
        path.write_text(vary(sources[i % len(sources)], i, rng), encoding="utf-8")
        paths.append(path)
    return paths


def timed(label: str, func, paths: list[Path]) -> float:
    """Runs ``func`` over ``paths``; prints wall and CPU time and returns the
    CPU time (this process, one thread). On a shared machine CPU time is the
    fairer figure: wall time also counts the time other processes held the core."""
    gc.collect()
    start, cpu_start = time.perf_counter(), time.process_time()
    for p in paths:
        func(p)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    n = len(paths)
    print(
        f"  {label:<26} wall {wall:6.2f} s ({n / wall:6.0f}/s)  cpu {cpu:6.2f} s ({n / cpu:6.0f}/s)"
    )
    return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20_000)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--profile", action="store_true", help="print the top of a profile")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="modelhub-bench-") as tmp:
        paths = build(args.corpus, args.cards, Path(tmp))
        total = sum(p.stat().st_size for p in paths)
        print(f"{len(paths)} cards, {total / 1e6:.1f} MB, in {tmp}")
        # Warm the page cache and the parser (imports, compiled regexes).
        for p in paths[:500]:
            load_card(p)
        for p in paths:
            read_card_text(p)
        read = timed("read files (floor)", read_card_text, paths)
        parse = timed("load_card (read + parse)", load_card, paths)
        rate = len(paths) / parse
        print(
            f"parse rate (CPU time, one core): {rate:.0f} cards/s; "
            f"{parse / read:.1f}x the CPU time of reading alone"
        )
        print(f"target 3000 cards/s: {'met' if rate >= 3000 else 'NOT met'}")
        # CPU time still suffers from neighbours on a shared machine (caches).
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs")
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for p in paths[:3000]:
                load_card(p)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
