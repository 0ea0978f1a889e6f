"""Spark NLP transformer-family zips (the ``sparknlp_transformer`` loader), per family and
engine: time from the verified (unpacked) zip to the first vector, and ``encode()``
throughput against the same weights run by the references of the same engine class.

For every family zip of ``tests/fixtures/sparknlp/families`` (ONNX engine), with the
fixture's random weights, or (``--hidden H --layers L``) a bigger random model of the same
family exported into the zip by ``torch.onnx.export``:

* ``ours sparknlp`` / ``ours hf``: ``model.encode(texts)`` with ``semantics="sparknlp"`` and
  ``"huggingface"``;
* ``ort``: the reference of the same engine class: the upstream Hugging Face tokenizer
  (``tokenizer.json`` of the reference folder) batch-encodes, length-sorted batches as
  sentence-transformers does, one onnxruntime session on the same graph with the runner's
  session settings, numpy mean pooling;
* ``torch``: transformers' model on the same weights (information: another engine class).

    .venv/bin/python bench/sparknlp_families.py [--texts 256] [--threads N]
        [--hidden 384 --layers 6] [FAMILY_ZIP ...]

Prints one row per zip and the ratio ``ours hf / ort`` (time; > 1 is slower); OpenVINO and
TensorFlow zips (fixture size only) print their ratio against transformers' torch.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ROOT / "tests" / "fixtures" / "sparknlp" / "families"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(FAMILIES.parent))


def texts(n: int) -> list[str]:
    from generate import WORDS  # tests/fixtures/sparknlp/generate.py

    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 60))) for _ in range(n)]


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def bigger(folder: Path, ref: Path, name: str, hidden: int, layers: int) -> None:
    """A random model of the family at the given size, exported into the zip's engine."""
    import torch
    import transformers
    from generate_families import ZIPS, export_onnx

    z = next(z for z in ZIPS if z.name == name)
    config = transformers.AutoConfig.from_pretrained(ref)
    for key, value in (
        ("hidden_size", hidden), ("d_model", hidden), ("dim", hidden),
        ("num_hidden_layers", layers), ("num_layers", layers), ("n_layers", layers),
        ("intermediate_size", hidden * 4), ("d_ff", hidden * 4), ("hidden_dim", hidden * 4),
        ("max_position_embeddings", 130), ("d_kv", hidden // 4),
    ):  # fmt: skip
        if hasattr(config, key) and key in config.to_dict():
            setattr(config, key, value)
    cls = transformers.T5EncoderModel if config.model_type == "t5" else transformers.AutoModel
    torch.manual_seed(0)
    model = (cls(config) if config.model_type == "t5" else cls.from_config(config)).eval()
    graph = folder / "bench.onnx"
    export_onnx(model, z, graph)
    engine = next(p for p in folder.iterdir() if p.name.lower().endswith("_onnx"))
    with zipfile.ZipFile(engine) as zf:
        member = zf.namelist()[0]
    with zipfile.ZipFile(engine, "w", zipfile.ZIP_STORED) as zf:
        zf.write(graph, member)
    graph.unlink()
    meta = folder / "metadata" / "part-00000"
    data = json.loads(meta.read_text())
    data["paramMap"].update(dimension=hidden, maxSentenceLength=128)
    meta.write_text(json.dumps(data))
    model.save_pretrained(folder.parent / f"{name}-ref")


def ort_reference(
    folder: Path, ref: Path, batch: list[str], threads: int | None, max_length: int
) -> float:
    """Seconds for the upstream tokenizer + one onnxruntime session, mean pooled."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(ref / "tokenizer.json"))
    tok.enable_truncation(max_length)
    engine = next(p for p in folder.iterdir() if p.name.lower().endswith("_onnx"))
    with zipfile.ZipFile(engine) as zf:
        graph = zf.read(zf.namelist()[0])
    # The session settings of the loader's runner, so the ratio is the overhead around it.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}

    def run() -> np.ndarray:
        order = sorted(range(len(batch)), key=lambda i: -len(batch[i]))
        out = np.zeros((len(batch), 0), dtype=np.float32)
        rows: dict[int, np.ndarray] = {}
        for s in range(0, len(order), 32):
            idx = order[s : s + 32]
            encs = tok.encode_batch([batch[i] for i in idx])
            width = max(len(e.ids) for e in encs)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for j, e in enumerate(encs):
                ids[j, : len(e.ids)] = e.ids
                mask[j, : len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            states = session.run(None, feed)[0]
            pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            rows.update(zip(idx, pooled, strict=True))
        out = np.stack([rows[i] for i in range(len(batch))])
        return out

    run()
    return timed(run)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("zips", nargs="*", help="family zips (default: all)")
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()

    import torch
    import transformers

    from modelhub.loaders.sparknlp.transformer.loader import SparkNlpTransformerLoader

    if args.threads:
        torch.set_num_threads(args.threads)
    manifest = json.loads((FAMILIES / "MANIFEST.json").read_text())
    names = args.zips or list(manifest)
    if args.hidden:
        names = [n for n in names if n.endswith("_onnx")]
    batch = texts(args.texts)
    loader = SparkNlpTransformerLoader()
    size = f"hidden {args.hidden}, {args.layers} layers" if args.hidden else "fixture size"
    print(f"{len(batch)} texts of 5-60 words, {size}, torch threads {torch.get_num_threads()}")
    head = f"{'zip':<26} {'load s':>7} {'first s':>7} {'ours sp/s':>9} {'ours hf/s':>9}"
    print(head + f" {'ort/s':>8} {'torch/s':>8} {'hf/ort':>7}")
    work = Path(tempfile.mkdtemp(prefix="bench-families-"))
    try:
        for name in names:
            folder = work / name
            with zipfile.ZipFile(FAMILIES / f"{name}.zip") as zf:
                zf.extractall(folder)
            ref = FAMILIES / "reference" / manifest[name]["reference"]
            weights = ref
            if args.hidden and name.endswith("_onnx"):
                bigger(folder, ref, name, args.hidden, args.layers)
                weights = work / f"{name}-ref"
            # the fixtures have 64 positions; --hidden models 130
            max_length = 128 if args.hidden else 60
            opts = {"num_threads": args.threads, "max_length": max_length}
            spark, t_load = timed(lambda: loader.load(folder, None, **opts))  # noqa: B023
            _, t_first = timed(lambda: spark.encode("I hate cancer"))  # noqa: B023
            hf = loader.load(folder, None, semantics="huggingface", **opts)
            spark.encode(batch[:16])
            hf.encode(batch[:16])
            _, t_sp = timed(lambda: spark.encode(batch))  # noqa: B023
            _, t_hf = timed(lambda: hf.encode(batch))  # noqa: B023
            onnx = name.endswith("_onnx")
            t_ort = ort_reference(folder, ref, batch, args.threads, max_length) if onnx else 0.0
            cls = transformers.T5EncoderModel if "t5" in str(ref) else transformers.AutoModel
            tmodel = cls.from_pretrained(weights).eval()
            tok = transformers.AutoTokenizer.from_pretrained(ref)

            def run_torch(tok: Any = tok, model: Any = tmodel, limit: int = max_length) -> None:
                with torch.inference_mode():
                    for s in range(0, len(batch), 32):
                        enc = tok(
                            batch[s : s + 32],
                            padding=True,
                            truncation=True,
                            max_length=limit,
                            return_tensors="pt",
                        )
                        model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])

            run_torch()
            _, t_torch = timed(run_torch)
            n = len(batch)
            print(
                f"{name:<26} {t_load:7.2f} {t_first:7.3f} {n / t_sp:9.1f} {n / t_hf:9.1f} "
                + (
                    f"{n / t_ort:8.1f} {n / t_torch:8.1f} {t_hf / t_ort:6.2f}x"
                    if onnx
                    else f"{'-':>8} {n / t_torch:8.1f} {t_hf / t_torch:6.2f}x (vs torch)"
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
