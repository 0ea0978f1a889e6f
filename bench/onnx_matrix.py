"""Why ONNX Runtime measured 0.83x torch eager on MiniLM once and 1.87x another
time: one export and one session setting varied at a time, all on the SAME
length-sorted batches, round-robin (torch, A, B, ..., torch, A, B, ...) so a
busy shared CPU hits every variant alike. Each line: best time, spread
(slowest/best run), ratio to torch eager's best, min sentence cosine.

    python bench/onnx_matrix.py [--texts 160] [--rounds 3] [--unsorted] [--only A,I]

Variants (the first column names what differs from the line above it):

* export: the TorchScript exporter (``dynamo=False``) or the dynamo exporter
  of torch 2.x, opset, transformers' attention implementation (sdpa/eager);
* session: intra-op threads, spinning, sequential vs parallel execution,
  graph optimization level (BASIC / EXTENDED / ALL);
* offline fusions: ``onnxruntime.transformers.optimizer`` with
  ``model_type="bert"`` (Attention, SkipLayerNormalization, BiasGelu).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from embed import make_texts, minilm_dir  # noqa: E402
from embed_engines import min_cosines, run_torch, sorted_batches  # noqa: E402

Batch = tuple[np.ndarray, np.ndarray]


def unsorted_batches(path: Path, texts: list[str], size: int = 32) -> list[Batch]:
    """Batches in input order, each padded to its longest text."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    out: list[Batch] = []
    for start in range(0, len(texts), size):
        enc = tok(texts[start : start + size], truncation=True, max_length=256, padding=True)
        out.append(
            (np.array(enc["input_ids"], np.int64), np.array(enc["attention_mask"], np.int64))
        )
    return out


def export(path: Path, target: Path, *, attn: str, opset: int, dynamo: bool) -> Path:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(path, attn_implementation=attn).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )[0]

    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0  # a padded row, so no branch on "mask is all ones" is traced in
    names = ["input_ids", "attention_mask", "token_type_ids"]
    kwargs: dict = {"input_names": names, "output_names": ["last_hidden_state"]}
    if dynamo:
        b, s = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
        kwargs["dynamic_shapes"] = tuple({0: b, 1: s} for _ in names)
    else:
        dyn = {0: "batch", 1: "seq"}
        kwargs["dynamic_axes"] = {n: dyn for n in [*names, "last_hidden_state"]}
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Hidden(model),
            (ids, mask, torch.zeros_like(ids)),
            str(target),
            opset_version=opset,
            dynamo=dynamo,
            **kwargs,
        )
    return target


def fuse(source: Path, target: Path, heads: int, hidden: int) -> Path:
    from onnxruntime.transformers import optimizer

    logging.getLogger("onnxruntime").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        m = optimizer.optimize_model(
            str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        )
    counts = m.get_fused_operator_statistics()
    m.save_model_to_file(str(target))
    kept = {k: v for k, v in counts.items() if v}
    print(f"  fusions in {target.name}: {kept}", flush=True)
    return target


def session(model: Path, *, threads: int = 2, level: str = "ALL", spin: bool = True, par=False):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.graph_optimization_level = getattr(
        ort.GraphOptimizationLevel,
        {"DISABLE": "ORT_DISABLE_ALL", "BASIC": "ORT_ENABLE_BASIC"}.get(
            level, f"ORT_ENABLE_{level}"
        ),
    )
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 2 if par else 1
    o.execution_mode = ort.ExecutionMode.ORT_PARALLEL if par else ort.ExecutionMode.ORT_SEQUENTIAL
    o.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    o.log_severity_level = 3
    return ort.InferenceSession(str(model), o, providers=["CPUExecutionProvider"])


def runner(sess) -> Callable[[list[Batch]], list[np.ndarray]]:
    names = {i.name for i in sess.get_inputs()}

    def run(batches: list[Batch]) -> list[np.ndarray]:
        out = []
        for a, m in batches:
            feed = {"input_ids": a, "attention_mask": m, "token_type_ids": np.zeros_like(a)}
            out.append(sess.run(None, {k: v for k, v in feed.items() if k in names})[0])
        return out

    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--texts", type=int, default=160)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--unsorted", action="store_true", help="also input-order batches")
    p.add_argument("--only", help="comma-separated variant labels (prefix match)")
    args = p.parse_args()
    import onnxruntime as ort
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    path = minilm_dir()
    texts = make_texts(args.texts)
    batches = sorted_batches(path, texts)
    n_tok = sum(int(m.sum()) for _, m in batches)
    pad = sum(m.size for _, m in batches)
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime "
        f"{ort.__version__}; {args.texts} texts, {len(batches)} sorted batches, "
        f"{n_tok} tokens, {pad / n_tok:.2f}x padded"
    )
    torch_model = AutoModel.from_pretrained(path).eval()
    variants: dict[str, Callable[[list[Batch]], list[np.ndarray]]] = {
        "torch eager fp32 (sdpa)": lambda b: run_torch(torch_model, b)
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        ts = export(path, tmp / "ts17.onnx", attn="sdpa", opset=17, dynamo=False)
        ts_e = export(path, tmp / "ts17eager.onnx", attn="eager", opset=17, dynamo=False)
        ts14 = export(path, tmp / "ts14.onnx", attn="sdpa", opset=14, dynamo=False)
        fused = fuse(ts, tmp / "ts17.fused.onnx", 12, 384)
        fused_e = fuse(ts_e, tmp / "ts17eager.fused.onnx", 12, 384)
        exports = {"ts17": ts, "ts17eager": ts_e, "ts14": ts14}
        try:
            exports["dynamo18"] = export(
                path, tmp / "dyn18.onnx", attn="sdpa", opset=18, dynamo=True
            )
            exports["dynamo18.fused"] = fuse(exports["dynamo18"], tmp / "dyn18.fused.onnx", 12, 384)
        except Exception as exc:  # onnxscript missing, or the exporter failed
            print(f"  dynamo exporter: failed ({type(exc).__name__}: {str(exc)[:200]})")
        # label -> (graph, session options); the sessions are made one at a time
        # (each holds its own arena: fifteen at once need gigabytes).
        plan: dict[str, tuple[Path, dict]] = {
            "A sdpa ts17, ALL, 2t, no spin (embed_engines.py)": (ts, {"spin": False}),
            "B sdpa ts17, ALL, 2t": (ts, {}),
            "C sdpa ts17, ALL, 1t": (ts, {"threads": 1}),
            "D sdpa ts17, ALL, 2t, parallel inter 2": (ts, {"par": True}),
            "E sdpa ts17, BASIC, 2t": (ts, {"level": "BASIC"}),
            "F sdpa ts14, ALL, 2t": (ts14, {}),
            "G sdpa ts17 + bert fusions, ALL, 2t": (fused, {}),
            "H eager ts17, ALL, 2t": (ts_e, {}),
            "I eager ts17 + bert fusions, ALL, 2t": (fused_e, {}),
            "J eager ts17 + bert fusions, ALL, 2t, no spin": (fused_e, {"spin": False}),
            "K eager ts17 + bert fusions, ALL, 1t": (fused_e, {"threads": 1}),
            "L eager ts17 + bert fusions, BASIC, 2t": (fused_e, {"level": "BASIC"}),
        }
        if "dynamo18" in exports:
            plan["M dynamo opset 18, ALL, 2t"] = (exports["dynamo18"], {})
            plan["N dynamo opset 18 + bert fusions, ALL, 2t"] = (exports["dynamo18.fused"], {})
        if args.only:
            keep = tuple(args.only.split(","))
            plan = {k: v for k, v in plan.items() if k.startswith(keep)}
        torch_fn = variants["torch eager fp32 (sdpa)"]
        ref = torch_fn(batches)
        torch_fn(batches[:2])
        print(
            "each line: ONNX Runtime variant vs torch eager fp32, timed alternately per batch "
            f"(torch, ort, torch, ort, ...), {args.rounds} rounds; sum of per-batch best times"
        )
        for label, (graph, opts) in plan.items():
            fn = runner(session(graph, **opts))
            fn(batches[:2])  # warm
            best_t = [float("inf")] * len(batches)
            best_o = [float("inf")] * len(batches)
            got: list[np.ndarray] = [None] * len(batches)  # type: ignore[list-item]
            for _ in range(args.rounds):
                for i, b in enumerate(batches):
                    start = time.perf_counter()
                    torch_fn([b])
                    best_t[i] = min(best_t[i], time.perf_counter() - start)
                    start = time.perf_counter()
                    got[i] = fn([b])[0]
                    best_o[i] = min(best_o[i], time.perf_counter() - start)
            sent, _tok = min_cosines(ref, got, batches)
            t_t, t_o = sum(best_t), sum(best_o)
            print(
                f"{label:50s} ort {t_o:6.2f}s  torch {t_t:6.2f}s  {t_t / t_o:5.2f}x  "
                f"min cos {sent:.6f}",
                flush=True,
            )
            del fn
        if args.unsorted:
            ub = unsorted_batches(path, texts)
            pad_u = sum(m.size for _, m in ub)
            print(f"input-order batches ({pad_u / n_tok:.2f}x padded) vs the sorted ones:")
            fn = runner(session(fused_e))
            for label, f_, bs in (
                ("torch sorted", torch_fn, batches),
                ("torch input order", torch_fn, ub),
                ("ort I sorted", fn, batches),
                ("ort I input order", fn, ub),
            ):
                t = []
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    f_(bs)
                    t.append(time.perf_counter() - start)
                print(f"  {label:20s} best {min(t):6.2f}s  spread {max(t) / min(t):4.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
