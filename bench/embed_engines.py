"""Other ways to run fp32 BERT inference on this CPU, side by side with the
torch path that ``embed_sentences`` takes, on the same length-sorted batches:

* torch eager, float32 (what modelhub runs when the CPU has no native bf16);
* ONNX Runtime on the same weights (exported once, dynamic batch and length);
* torch dynamic int8 quantization of the linear layers.

Each line prints the time, the ratio to torch eager and the smallest cosine
of the mean-pooled sentence vectors and of the token vectors against torch
fp32. It says whether anything but bf16 could lift ``bench/embed.py``'s
ratio on a given machine, and at what cost in accuracy.

    python bench/embed_engines.py [--models minilm,bert-base] [--texts 400]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from embed import bert_base_dir, make_texts, minilm_dir  # noqa: E402

Batch = tuple[np.ndarray, np.ndarray]


def sorted_batches(path: Path, texts: list[str], size: int = 32) -> list[Batch]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    ids = [tok(t, truncation=True, max_length=256)["input_ids"] for t in texts]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out: list[Batch] = []
    for start in range(0, len(order), size):
        rows = [ids[i] for i in order[start : start + size]]
        width = max(map(len, rows))
        a = np.zeros((len(rows), width), np.int64)
        m = np.zeros((len(rows), width), np.int64)
        for r, row in enumerate(rows):
            a[r, : len(row)] = row
            m[r, : len(row)] = 1
        out.append((a, m))
    return out


def run_torch(model: torch.nn.Module, batches: list[Batch]) -> list[np.ndarray]:
    with torch.inference_mode():
        return [
            model(input_ids=torch.from_numpy(a), attention_mask=torch.from_numpy(m))
            .last_hidden_state.float()
            .numpy()
            for a, m in batches
        ]


def onnx_session(model: torch.nn.Module, tmp: Path):
    import onnxruntime as ort

    class Hidden(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, ids, mask, types):  # type: ignore[no-untyped-def]
            return self.inner(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    ids = torch.ones(2, 16, dtype=torch.long)
    dyn = {0: "batch", 1: "length"}
    target = tmp / "model.onnx"
    torch.onnx.export(
        Hidden(model),
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(target),
        input_names=["ids", "mask", "types"],
        output_names=["hidden"],
        dynamic_axes={"ids": dyn, "mask": dyn, "types": dyn, "hidden": dyn},
        opset_version=17,
        dynamo=False,
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    # Spinning ORT threads would steal the cores from the torch runs.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(target), opts, providers=["CPUExecutionProvider"])


def run_onnx(session, batches: list[Batch]) -> list[np.ndarray]:
    return [
        session.run(None, {"ids": a, "mask": m, "types": np.zeros_like(a)})[0] for a, m in batches
    ]


def min_cosines(ref: list[np.ndarray], got: list[np.ndarray], batches: list[Batch]):
    sent, tokens = [], []
    for r, g, (_, m) in zip(ref, got, batches, strict=True):
        w = m[..., None].astype(np.float32)
        ps, pg = (r * w).sum(1), (g * w).sum(1)
        sent.append((ps * pg).sum(1) / np.linalg.norm(ps, axis=1) / np.linalg.norm(pg, axis=1))
        tc = (r * g).sum(-1) / np.linalg.norm(r, axis=-1) / np.linalg.norm(g, axis=-1)
        tokens.append(tc[m.astype(bool)])
    return float(np.concatenate(sent).min()), float(np.concatenate(tokens).min())


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def compare(label: str, run, engine, batches: list[Batch], t_torch: float, ref) -> None:
    """Times ``run(engine, batches)`` after a warm-up and prints it against torch fp32."""
    run(engine, batches[:2])
    t, got = timed(run, engine, batches)
    sent, tok = min_cosines(ref, got, batches)
    print(
        f"{label} {t:6.1f}s  {t_torch / t:.2f}x  min cosine sentence {sent:.5f} token {tok:.5f}",
        flush=True,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="minilm,bert-base")
    p.add_argument("--texts", type=int, default=400)
    args = p.parse_args()
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in args.models.split(","):
            path = minilm_dir() if name == "minilm" else bert_base_dir(tmp)
            batches = sorted_batches(path, make_texts(args.texts))
            model = AutoModel.from_pretrained(path).eval()
            run_torch(model, batches[:2])  # warm
            t_torch, ref = timed(run_torch, model, batches)
            print(f"{name:9s} torch eager fp32   {t_torch:6.1f}s  1.00x", flush=True)
            # A fresh copy for export: the exporter may leave the model changed.
            session = onnx_session(AutoModel.from_pretrained(path).eval(), tmp)
            compare(f"{name:9s} onnxruntime fp32  ", run_onnx, session, batches, t_torch, ref)
            del session
            quantized = torch.ao.quantization.quantize_dynamic(
                AutoModel.from_pretrained(path).eval(), {torch.nn.Linear}, dtype=torch.qint8
            )
            compare(f"{name:9s} torch int8 dynamic", run_torch, quantized, batches, t_torch, ref)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
