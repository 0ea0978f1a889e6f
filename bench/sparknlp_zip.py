"""Spark NLP BERT zip: time from the verified (unpacked) zip to the first embedding, and
``embed`` throughput of the ONNX engine vs the same weights converted to torch.

A bert-base-sized random BERT (12 layers, hidden 768, 12 heads) is exported to ONNX with
torch and packed in Spark NLP's layout, reusing the JVM-written vocabulary and metadata of
the committed test fixture (so the vocabulary is tiny; the encoder is full size).

    .venv/bin/python bench/sparknlp_zip.py [--texts 256] [--threads N]
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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "sparknlp" / "bert_tiny_onnx_uncased.zip"
sys.path.insert(0, str(ROOT))


def build_zip_folder(work: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    folder = work / "bert_base_random_onnx"
    with zipfile.ZipFile(FIXTURE) as zf:
        zf.extractall(folder)
    vocab_size = sum(1 for _ in (ROOT / "tests/fixtures/sparknlp/reference/vocab.txt").open())
    config = BertConfig(vocab_size=vocab_size, max_position_embeddings=512)
    torch.manual_seed(0)
    model = BertModel(config).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.tensor([[2, 10, 11, 3]])
    graph = work / "bert_onnx"
    axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}}
    axes["token_type_ids"] = {0: "b", 1: "s"}
    axes["last_hidden_state"] = {0: "b", 1: "s"}
    torch.onnx.export(
        Wrapper(model),
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(graph),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    with zipfile.ZipFile(folder / "bert_onnx", "w", zipfile.ZIP_STORED) as zf:
        zf.write(graph, "bert_onnx")
    meta = folder / "metadata" / "part-00000"
    data = json.loads(meta.read_text())
    data["paramMap"].update(dimension=768, maxSentenceLength=128)
    meta.write_text(json.dumps(data))
    return folder


def texts(n: int) -> list[str]:
    words = (ROOT / "tests/fixtures/sparknlp/reference/vocab.txt").read_text().split()
    words = [w for w in words if w.isalpha() and len(w) > 1]
    rng = random.Random(0)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(5, 60))) for _ in range(n)]


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from modelhub.loaders.bert_model import BertEmbeddingsModel
    from modelhub.loaders.sparknlp.conversion import convert
    from modelhub.loaders.sparknlp.loader import SparkNlpBertLoader

    work = Path(tempfile.mkdtemp(prefix="bench-sparknlp-"))
    try:
        folder = build_zip_folder(work)
        batch = texts(args.texts)
        loader = SparkNlpBertLoader()

        onnx, t_onnx_load = timed(
            lambda: loader.load(folder, None, num_threads=args.threads, dtype="float32")
        )
        _, t_onnx_first = timed(lambda: onnx.embed(["I hate cancer"]))
        hf, t_convert = timed(lambda: convert(folder, work / "hf"))
        torch_model, t_torch_load = timed(
            lambda: BertEmbeddingsModel.from_directory(hf, None, dtype="float32", max_length=128)
        )
        _, t_torch_first = timed(lambda: torch_model.embed(["I hate cancer"]))

        onnx.embed(batch[:16])
        torch_model.embed(batch[:16])
        a, t_onnx = timed(lambda: onnx.embed(batch))
        b, t_torch = timed(lambda: torch_model.embed(batch))
        diff = max(float(np.abs(x.vectors - y.vectors).max()) for x, y in zip(a, b, strict=True))
        auto = BertEmbeddingsModel.from_directory(hf, None, dtype="auto", max_length=128)
        auto.embed(batch[:16])
        _, t_auto = timed(lambda: auto.embed(batch))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = len(batch)
    print(f"bert-base-sized random model, {n} texts of 5-60 words, maxSentenceLength 128")
    print(f"torch threads {torch.get_num_threads()}, auto dtype {auto.dtype}")
    print("verified folder -> first embedding:")
    print(f"  onnx engine     load {t_onnx_load:6.2f} s + first embed {t_onnx_first:5.2f} s")
    print(
        f"  converted torch convert {t_convert:6.2f} s + load {t_torch_load:5.2f} s "
        f"+ first embed {t_torch_first:5.2f} s"
    )
    print("embed throughput:")
    print(f"  onnx engine          {n / t_onnx:7.1f} texts/s")
    print(f"  converted torch fp32 {n / t_torch:7.1f} texts/s")
    print(f"  converted torch auto {n / t_auto:7.1f} texts/s")
    print(f"ratio onnx / torch fp32: {t_torch / t_onnx:.2f}x   max |onnx - torch| {diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
