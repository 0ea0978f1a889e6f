"""Spark NLP zips of every transformer family: modelhub against transformers on the same
weights, engine class by engine class, in one run.

    python bench/sparknlp_zip.py [--quick] [--texts N] [--only NAME ...]

For each family fixture of ``tests/fixtures/sparknlp/families`` (a Spark NLP model folder as
the JVM writes it, with its tokenizer files) the bench builds a MiniLM-sized random model of
the same transformers class and vocabulary (hidden 384, 6 layers, 12 heads; ``--quick``:
hidden 128, 2 layers), swaps it into the zip as each engine Spark NLP uses (ONNX through
``torch.onnx.export``; OpenVINO through ``openvino.convert_model`` when installed;
TensorFlow through ``tests/fixtures/sparknlp/tf_family_writer.py`` when ``.venv-tf`` is
there) and times, side by side:

* load: ``modelhub.pretrained(folder)`` against the reference's tokenizer + engine set-up;
* encode: ``model.encode(texts, batch_size=32)`` (Spark NLP semantics, the default)
  against the reference: the transformers tokenizer (padding, length-sorted batches of 32,
  as sentence-transformers does) feeding the same engine class (the same ONNX graph in
  onnxruntime, the same IR in OpenVINO, the transformers torch model for TensorFlow
  weights, which modelhub also runs in torch), then a masked mean.

It prints one row per zip and engine: the times, texts per second and the ratio
``modelhub / reference`` (time; lower is better; the target is at most 1.5), then the CPU
flags. Timings are best of ``--repeat`` runs (default 3) after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "sparknlp"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(FIXTURES))

from modelhub.loaders.sparknlp.families import engine_files  # noqa: E402

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "sha_ni")


def cpu_flags() -> str:
    try:
        words = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown"
    return " ".join(f for f in FLAGS if f in words) or "none of " + ", ".join(FLAGS)


WORDS = (
    "the patient was given a dose of aspirin and he she is not to in with for on it this "
    "that cell tumor gene protein blood test result treatment study we found no evidence "
    "disease care café new york model text token word piece résumé naïve Zürich"
)


def texts(n: int, seed: int = 7) -> list[str]:
    words = WORDS.split()
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(4, 60))) + "." for _ in range(n)]


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# --------------------------------------------------------------------- the weights
def scaled_model(reference: Path, quick: bool) -> tuple[Any, Any]:
    """A random model of ``reference``'s class and vocabulary, MiniLM-sized."""
    import torch
    import transformers as tf

    config = tf.AutoConfig.from_pretrained(str(reference))
    hidden, layers, heads, ff = (128, 2, 4, 512) if quick else (384, 6, 12, 1536)
    if config.model_type == "t5":
        config.update({"d_model": hidden, "num_layers": layers, "num_heads": heads})
        config.update({"d_ff": ff, "d_kv": hidden // heads})
        cls: Any = tf.T5EncoderModel
    elif config.model_type == "distilbert":
        config.update({"dim": hidden, "n_layers": layers, "n_heads": heads, "hidden_dim": ff})
        cls = tf.AutoModel
    else:
        config.update({"hidden_size": hidden, "num_hidden_layers": layers})
        config.update({"num_attention_heads": heads, "intermediate_size": ff})
        if config.model_type == "albert":
            config.update({"embedding_size": 128})
        cls = tf.AutoModel
    config.update({"max_position_embeddings": max(config.max_position_embeddings, 130)})
    torch.manual_seed(0)
    model = (cls(config) if cls is tf.T5EncoderModel else cls.from_config(config)).eval()
    return model, tf.AutoTokenizer.from_pretrained(str(reference))


def write_onnx(model: Any, spec: Spec, engine_file: Path) -> bytes:
    from generate_families import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(model, spec, graph)
        data = graph.read_bytes()
    with zipfile.ZipFile(engine_file, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(spec.member, data)
    return data


def write_openvino(model: Any, spec: Spec, engine_file: Path) -> Path | None:
    try:
        import ov_writer
    except ImportError:
        return None
    writer = getattr(ov_writer, "write_engine", None)
    if writer is None:
        return None
    writer(model, engine_file, inputs=spec.inputs)
    return engine_file


# ------------------------------------------------------------------- the reference
class Reference:
    """transformers' tokenizer feeding one engine; masked mean of its output."""

    def __init__(self, tok: Any, run: Callable[[dict[str, np.ndarray]], np.ndarray]) -> None:
        self.tok, self.run = tok, run

    def encode(self, items: list[str], batch_size: int = 32) -> np.ndarray:
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))
        out = np.zeros((len(items), 0), dtype=np.float32)
        rows: list[np.ndarray] = [np.empty(0)] * len(items)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tok([items[i] for i in idx], padding=True, truncation=True,
                             max_length=128, return_tensors="np")  # fmt: skip
            hidden = self.run({k: v.astype(np.int64) for k, v in batch.items()})
            mask = batch["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            for j, i in enumerate(idx):
                rows[i] = pooled[j]
        out = np.stack(rows)
        return out


def onnx_reference(tok: Any, graph: bytes, inputs: tuple[str, ...], threads: int) -> Reference:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(graph, opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        feed = {n: feed.get(n, np.zeros_like(feed["input_ids"])) for n in names}
        return session.run(None, feed)[0]

    return Reference(tok, run)


def torch_reference(tok: Any, model: Any) -> Reference:
    import torch

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            kw = {k: torch.from_numpy(v) for k, v in feed.items() if k != "token_type_ids"}
            return model(**kw).last_hidden_state.numpy()

    return Reference(tok, run)


def openvino_reference(tok: Any, engine_file: Path, threads: int) -> Reference:
    import openvino as ov

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(engine_file) as zf:
        zf.extractall(tmp)
        xml = next(Path(tmp).rglob("*.xml"))
        core = ov.Core()
        compiled = core.compile_model(
            core.read_model(str(xml)),
            "CPU",
            {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": threads},
        )
    names = [p.get_any_name() for p in compiled.inputs]

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        got = compiled({n: feed.get(n, np.zeros_like(feed["input_ids"])) for n in names})
        return next(iter(got.values()))

    return Reference(tok, run)


# ------------------------------------------------------------------------ the bench
def unpack(fixture: Path, target: Path, dimension: int) -> Path:
    with zipfile.ZipFile(fixture) as zf:
        zf.extractall(target)
    meta = target / "metadata" / "part-00000"
    params = json.loads(meta.read_text(encoding="utf-8"))
    params.setdefault("paramMap", {})["dimension"] = dimension
    meta.write_text(json.dumps(params), encoding="utf-8")
    for crc in (target / "metadata").glob(".part-00000.crc"):
        crc.unlink()
    return target


def set_engine(folder: Path, engine: str) -> Path:
    """Removes the fixture's engine file and says ``engine`` in the metadata; returns
    where the new engine file goes (the fixture's own prefix, as Spark NLP named it)."""
    meta = folder / "metadata" / "part-00000"
    params = json.loads(meta.read_text(encoding="utf-8"))
    params.setdefault("paramMap", {})["engine"] = engine
    meta.write_text(json.dumps(params), encoding="utf-8")
    prefix = ""
    for path in engine_files(folder).values():
        prefix = path.name.rsplit("_", 1)[0]
        path.unlink()
    return folder / f"{prefix}_{engine}"


@dataclass(frozen=True)
class Spec:
    """One Spark NLP zip to bench: its fixture, reference folder and engine layout
    (``inputs``/``output``/``member`` as ``generate_families.export_onnx`` takes them)."""

    name: str
    fixture: Path
    reference: Path
    prefix: str
    inputs: tuple[str, ...]
    output: str = "last_hidden_state"
    member: str = "model.onnx"


def specs() -> list[Spec]:
    from generate_families import ZIPS

    bert = ("input_ids", "attention_mask", "token_type_ids")
    out = [
        Spec("bert_onnx", FIXTURES / "bert_tiny_onnx_uncased.zip", FIXTURES / "reference",
             "bert", bert, member="bert_onnx"),
    ]  # fmt: skip
    for z in ZIPS:
        out.append(
            Spec(z.name, FIXTURES / "families" / f"{z.name}.zip",
                 FIXTURES / "families" / "reference" / z.reference, z.prefix, z.inputs,
                 z.output, z.member)
        )  # fmt: skip
    return out


def bench_one(spec: Spec, args: argparse.Namespace, items: list[str]) -> list[tuple]:
    import modelhub

    name, fixture, reference_dir = spec.name, spec.fixture, spec.reference
    model, tok = scaled_model(reference_dir, args.quick)
    dim = int(getattr(model.config, "hidden_size", 0) or model.config.d_model)
    rows: list[tuple] = []
    with tempfile.TemporaryDirectory() as tmp:
        for engine in args.engines:
            folder = unpack(fixture, Path(tmp) / engine, dim)
            engine_file = set_engine(folder, engine)
            if engine == "onnx":
                graph = write_onnx(model, spec, engine_file)
                make_ref: Callable[[], Reference] = lambda g=graph: onnx_reference(  # noqa: E731
                    tok, g, spec.inputs, args.threads
                )
            elif engine == "openvino":
                if write_openvino(model, spec, engine_file) is None:
                    rows.append((name, engine, "skipped: ov_writer.write_engine not found"))
                    continue
                make_ref = lambda f=engine_file: openvino_reference(tok, f, args.threads)  # noqa: E731
            else:
                rows.append((name, engine, "skipped: no TensorFlow writer run by this bench"))
                continue

            def load(f: Path = folder) -> Any:
                return modelhub.pretrained(str(f), num_threads=args.threads)

            t_load = best_of(load, args.repeat)
            t_ref_load = best_of(make_ref, args.repeat)
            ours, ref = load(), make_ref()
            t_enc = best_of(lambda m=ours: m.encode(items, batch_size=32), args.repeat)
            t_ref = best_of(lambda r=ref: r.encode(items), args.repeat)
            rows.append((name, engine, t_load, t_ref_load, t_enc, t_ref))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="hidden 128, 2 layers, 200 texts")
    parser.add_argument("--texts", type=int, help="texts to encode (default 1000; quick 200)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engines", nargs="+", default=["onnx", "openvino"])
    parser.add_argument("--only", nargs="+", help="fixture names (e.g. roberta_onnx)")
    args = parser.parse_args()
    try:
        chosen = [s for s in specs() if not args.only or s.name in args.only]
    except ImportError as exc:
        print(f"skipped: the family fixtures' generator is not importable ({exc})")
        return 0
    items = texts(args.texts or (200 if args.quick else 1000))
    results: list[tuple] = []
    for spec in chosen:
        results.extend(bench_one(spec, args, items))
    head = f"{'zip':26} {'engine':9} {'load ms':>8} {'ref ms':>8} {'ratio':>6} "
    head += f"{'encode s':>9} {'ref s':>7} {'texts/s':>8} {'ratio':>6}"
    print(head)
    worst = 0.0
    for row in results:
        if len(row) == 3:
            print(f"{row[0]:26} {row[1]:9} {row[2]}")
            continue
        name, engine, t_load, t_ref_load, t_enc, t_ref = row
        ratio = t_enc / t_ref
        worst = max(worst, ratio)
        print(
            f"{name:26} {engine:9} {t_load * 1e3:8.1f} {t_ref_load * 1e3:8.1f} "
            f"{t_load / t_ref_load:6.2f} {t_enc:9.3f} {t_ref:7.3f} {len(items) / t_enc:8.0f} "
            f"{ratio:6.2f}"
        )
    print(f"\nworst encode ratio (modelhub / reference, time): {worst:.2f} (target <= 1.5)")
    print(f"texts: {len(items)}; threads: {args.threads}; CPU flags: {cpu_flags()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
