"""OpenVINO against ONNX Runtime and torch for float32 BERT inference on this CPU, on the
same length-sorted batches of the bundled all-MiniLM-L6-v2, and what each costs to load.

Throughput sides (wall seconds and the process's CPU seconds, all threads; on a shared
machine the CPU seconds show each side's work better than the wall time):

* torch eager, float32 (what sentence-transformers runs);
* ONNX Runtime on modelhub's fused export (``engine="onnx"``'s graph and session);
* OpenVINO on modelhub's conversion (``engine="openvino"``'s IR), latency hint, one
  request using every thread (what the engine runs);
* OpenVINO, throughput hint: one stream per thread, each batch split across the streams
  (each part trimmed to its own longest row), the parts run in parallel.

Load sides (median of interleaved repeats): ``SentenceTransformer(dir)``, an ONNX Runtime
session as modelhub opens it, one from a saved pre-optimized graph
(``SessionOptions.optimized_model_filepath``), OpenVINO's compile without and with its
compile cache.

    python bench/openvino_modes.py [--texts 300] [--rounds 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from embed import cpu_flags, load_average, make_texts, minilm_dir  # noqa: E402

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]
Run = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def sorted_batches(path: Path, texts: list[str], size: int = 32) -> list[Batch]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path / "tokenizer.json"))
    tok.enable_truncation(256)
    tok.no_padding()
    ids = [e.ids for e in tok.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = []
    for start in range(0, len(order), size):
        rows = [ids[i] for i in order[start : start + size]]
        a = np.zeros((len(rows), max(map(len, rows))), np.int64)
        m = np.zeros_like(a)
        for r, row in enumerate(rows):
            a[r, : len(row)] = row
            m[r, : len(row)] = 1
        out.append((a, m, np.zeros_like(a)))
    return out


def torch_side(path: Path, threads: int) -> Run:
    import torch
    from transformers import AutoModel

    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(str(path)).eval()

    def run(a: np.ndarray, m: np.ndarray, t: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(
                input_ids=torch.from_numpy(a),
                attention_mask=torch.from_numpy(m),
                token_type_ids=torch.from_numpy(t),
            ).last_hidden_state.numpy()

    return run


def ov_compile(xml: Path, threads: int, hint: str, cache: Path | None = None) -> object:
    import openvino as ov

    core = ov.Core()
    if cache is not None:
        core.set_property({"CACHE_DIR": str(cache)})
    config = {
        "INFERENCE_PRECISION_HINT": "f32",
        "PERFORMANCE_HINT": hint,
        "INFERENCE_NUM_THREADS": str(threads),
    }
    if hint == "THROUGHPUT":
        config["NUM_STREAMS"] = str(threads)
    return core.compile_model(str(xml), "CPU", config)


def ov_split_side(xml: Path, threads: int) -> Run:
    """One request per stream; each batch's rows split across them, each part cut to its
    own longest row (the batch is length-sorted, so the shorter part pads less)."""
    compiled = ov_compile(xml, threads, "THROUGHPUT")
    requests = [compiled.create_infer_request() for _ in range(threads)]  # type: ignore[attr-defined]
    names = [p.get_any_name() for p in compiled.inputs]  # type: ignore[attr-defined]

    def run(a: np.ndarray, m: np.ndarray, t: np.ndarray) -> np.ndarray:
        parts = [p for p in np.array_split(np.arange(len(a)), len(requests)) if len(p)]
        given = {"input_ids": a, "attention_mask": m, "token_type_ids": t}
        widths = []
        for request, rows in zip(requests, parts, strict=False):
            width = int(m[rows].sum(1).max())
            widths.append(width)
            feed = {n: np.ascontiguousarray(given[n][rows, :width]) for n in names}
            request.start_async(feed)
        out = np.zeros((*a.shape, 0), np.float32)
        chunks = []
        for request, rows, width in zip(requests, parts, widths, strict=False):
            request.wait()
            hidden = request.get_output_tensor(0).data
            full = np.zeros((len(rows), a.shape[1], hidden.shape[-1]), np.float32)
            full[:, :width] = hidden
            chunks.append(full)
        return np.concatenate(chunks) if chunks else out

    return run


def ov_latency_side(xml: Path, threads: int) -> Run:
    compiled = ov_compile(xml, threads, "LATENCY")
    request = compiled.create_infer_request()  # type: ignore[attr-defined]
    names = [p.get_any_name() for p in compiled.inputs]  # type: ignore[attr-defined]

    def run(a: np.ndarray, m: np.ndarray, t: np.ndarray) -> np.ndarray:
        given = {"input_ids": a, "attention_mask": m, "token_type_ids": t}
        request.infer({n: given[n] for n in names})
        return request.get_output_tensor(0).data.copy()

    return run


def ort_session(graph: Path, threads: int, *, level: str = "all", save: Path | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[level]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    if save is not None:
        options.optimized_model_filepath = str(save)
    return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])


def ort_side(graph: Path, threads: int) -> Run:
    session = ort_session(graph, threads)
    names = [i.name for i in session.get_inputs()]

    def run(a: np.ndarray, m: np.ndarray, t: np.ndarray) -> np.ndarray:
        given = {"input_ids": a, "attention_mask": m, "token_type_ids": t}
        return session.run(None, {n: given[n] for n in names})[0]

    return run


def pooled_min_cosine(ref: list[np.ndarray], got: list[np.ndarray], batches: list[Batch]):
    worst, diff = 1.0, 0.0
    for r, g, (_a, m, _t) in zip(ref, got, batches, strict=True):
        keep = m.astype(bool)
        diff = max(diff, float(np.abs(r[keep] - g[keep]).max()))
        w = m[..., None].astype(np.float64)
        vr, vg = (r * w).sum(1) / w.sum(1), (g * w).sum(1) / w.sum(1)
        cos = (vr * vg).sum(1) / np.linalg.norm(vr, axis=1) / np.linalg.norm(vg, axis=1)
        worst = min(worst, float(cos.min()))
    return worst, diff


def throughput(sides: dict[str, Run], batches: list[Batch], rounds: int) -> None:
    for fn in sides.values():
        fn(*batches[0])
    wall: dict[str, list[float]] = {k: [] for k in sides}
    cpu: dict[str, list[float]] = {k: [] for k in sides}
    outs: dict[str, list[np.ndarray]] = {}
    for _ in range(rounds):
        for label, fn in sides.items():
            start, c = time.perf_counter(), time.process_time()
            outs[label] = [fn(*b) for b in batches]
            wall[label].append(time.perf_counter() - start)
            cpu[label].append(time.process_time() - c)
    ref = next(iter(sides))
    for label in sides:
        cos, diff = pooled_min_cosine(outs[ref], outs[label], batches)
        print(
            f"  {label:34s} wall best {min(wall[label]):6.2f}s median "
            f"{statistics.median(wall[label]):6.2f}s {min(wall[ref]) / min(wall[label]):5.2f}x"
            f"  cpu {min(cpu[label]):6.2f}s {min(cpu[ref]) / min(cpu[label]):5.2f}x  "
            f"max abs {diff:.1e}  min cosine {cos:.7f}",
            flush=True,
        )


def load_times(path: Path, graph: Path, xml: Path, threads: int, repeat: int) -> None:
    from sentence_transformers import SentenceTransformer

    tmp = Path(tempfile.mkdtemp(prefix="ov-modes-"))
    saved = tmp / "optimized.onnx"
    ort_session(graph, threads, save=saved)
    cache = tmp / "ov-cache"
    sides: dict[str, Callable[[], object]] = {
        "SentenceTransformer(dir)": lambda: SentenceTransformer(str(path), device="cpu"),
        "onnxruntime session (modelhub's)": lambda: ort_session(graph, threads),
        "onnxruntime, saved optimized graph": lambda: ort_session(saved, threads, level="none"),
        "openvino compile": lambda: ov_compile(xml, threads, "LATENCY"),
        "openvino compile, compile cache": lambda: ov_compile(xml, threads, "LATENCY", cache),
    }
    for fn in sides.values():
        fn()
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(repeat):
        for label, fn in sides.items():
            start = time.perf_counter()
            fn()
            samples[label].append(time.perf_counter() - start)
    st = statistics.median(samples["SentenceTransformer(dir)"])
    print(f"load (engine objects only, median of {repeat} interleaved):")
    for label, values in samples.items():
        med = statistics.median(values)
        print(f"  {label:36s} {med * 1e3:6.0f} ms  {med / st:5.2f}x SentenceTransformer")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--texts", type=int, default=300)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--load-repeat", type=int, default=7)
    args = p.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    import modelhub

    path = minilm_dir()
    os.environ["MODELHUB_CACHE"] = tempfile.mkdtemp(prefix="ov-modes-cache-")
    graph = modelhub.pretrained(path, engine="onnx").encoder.path
    xml = modelhub.pretrained(path, engine="openvino").encoder.path
    print(
        f"model {path}\nthreads {args.threads}, cpu count {os.cpu_count()}\n"
        f"CPU flags: {' '.join(cpu_flags())}\nload average at start: {load_average()}",
        flush=True,
    )
    batches = sorted_batches(path, make_texts(args.texts))
    real = sum(int(b[1].sum()) for b in batches)
    padded = sum(b[0].size for b in batches)
    print(
        f"throughput: {args.texts} texts, {len(batches)} sorted batches of 32, {real} tokens "
        f"({padded} padded), {args.rounds} interleaved rounds; ratios vs torch eager",
        flush=True,
    )
    sides: dict[str, Run] = {
        "torch eager fp32": torch_side(path, args.threads),
        "onnxruntime (engine='onnx')": ort_side(graph, args.threads),
        "openvino latency (engine='openvino')": ov_latency_side(xml, args.threads),
        "openvino throughput, split batches": ov_split_side(xml, args.threads),
    }
    throughput(sides, batches, args.rounds)
    load_times(path, graph, xml, args.threads, args.load_repeat)
    print(f"load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
