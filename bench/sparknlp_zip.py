"""Spark NLP zips of every transformer family: modelhub against transformers on the same
weights, family by family and engine class by engine class, in one run.

    python bench/sparknlp_zip.py [--quick] [--texts N] [--repeat R] [--threads T]
        [--engines onnx openvino tensorflow] [--only NAME ...]

For each family fixture of ``tests/fixtures/sparknlp/families`` and the two BERT zips (a
Spark NLP model folder as the JVM writes it, with its tokenizer files) the bench builds a
MiniLM-sized random model of the same transformers class and vocabulary (hidden 384,
6 layers, 12 heads; ``--quick``: hidden 128, 2 layers), swaps it into the zip as every
engine Spark NLP has for the family (``Family.engines``):

* ONNX through ``torch.onnx.export`` (the fixtures' own exporter);
* OpenVINO through ``openvino.convert_model`` (``tests/fixtures/sparknlp/ov_writer.py``)
  when ``openvino`` is installed;
* TensorFlow through TensorFlow itself (``tests/fixtures/sparknlp/tf_family_writer.py``
  run by ``.venv-tf`` or ``$MODELHUB_TF_PYTHON``); without it the TF rows are skipped with
  the reason printed.

and times, side by side, best of ``--repeat`` runs after one warm-up:

* load: ``modelhub.pretrained(folder)`` against what a transformers user loads: the
  tokenizer (``AutoTokenizer.from_pretrained``) and the engine from its own plain files (an
  onnxruntime session of the ``.onnx`` file, an OpenVINO compile of the same IR,
  ``AutoModel.from_pretrained`` of the same weights for TensorFlow). ``first ms`` is
  modelhub's first load, which prepares the zip once (inflates the engine, parses the
  tokenizer files: ``modelhub.loaders.sparknlp.prepared``) into a temporary cache
  (``MODELHUB_CACHE`` is set to one for the run); ``load ms`` is the best later load;
* encode: ``model.encode(texts, batch_size=32)`` under both semantics (``sparknlp``, the
  default: Spark NLP's word-level tokenization, and ``huggingface``) against the
  reference: the transformers tokenizer (padding, length-sorted batches of 32, as
  sentence-transformers does) feeding the same engine class (the same ONNX graph in
  onnxruntime, the same IR in OpenVINO, and for TensorFlow weights, which modelhub runs in
  torch, the transformers torch model), then a masked mean.

Ratios are ``modelhub / reference`` (time; lower is better; the issue's target is at most
1.5). The table ends with the worst ratios, the threads, the load average and the CPU
flags. A row that cannot be built (a writer missing, a family a writer does not handle)
says why instead of timing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
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

from modelhub.loaders.sparknlp.families import engine_files, family_for  # noqa: E402

FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "sha_ni")
TF_PYTHON = Path(os.environ.get("MODELHUB_TF_PYTHON", REPO / ".venv-tf" / "bin" / "python"))
MAX_LENGTH = 128


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


def best_of_all(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best-of times of ``fns`` run in turn (one warm-up each, then ``repeat`` rounds):
    on a shared machine a burst of load hits all of them alike, not one column."""
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def best_of_pair(a: Callable[[], Any], b: Callable[[], Any], repeat: int) -> tuple[float, float]:
    first, second = best_of_all([a, b], repeat)
    return first, second


# --------------------------------------------------------------------- the weights
def scaled_model(reference: Path, quick: bool) -> tuple[Any, Any]:
    """A random model of ``reference``'s class and vocabulary, MiniLM-sized."""
    import torch
    import transformers as tf

    config = tf.AutoConfig.from_pretrained(str(reference))
    hidden, layers, heads, ff = (128, 2, 4, 512) if quick else (384, 6, 12, 1536)
    if config.model_type == "xlnet":
        config.update({"d_model": hidden, "n_layer": layers, "n_head": heads, "d_inner": ff})
        config.update({"d_head": hidden // heads})
        torch.manual_seed(0)
        return tf.AutoModel.from_config(config).eval(), tf.AutoTokenizer.from_pretrained(
            str(reference)
        )
    if config.model_type == "longformer":
        # a window of 64 (released models: 512): texts of up to 128 pieces fill two
        config.update({"attention_window": 64})
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
    if config.model_type != "t5":
        cls = tf.AutoModel
        config.update({"max_position_embeddings": max(config.max_position_embeddings, 136)})
    torch.manual_seed(0)
    model = (cls(config) if cls is tf.T5EncoderModel else cls.from_config(config)).eval()
    return model, tf.AutoTokenizer.from_pretrained(str(reference))


def export_onnx(model: Any, spec: Spec, path: Path) -> None:
    """``torch.onnx.export`` as ``generate_families.export_onnx`` does it, with the
    pooler output as a second output where the annotator's graph has one."""
    import torch

    names, outputs = list(spec.inputs), spec.outputs
    if outputs == ("sentence_embedding",):  # Nomic's interface: pooled in the graph
        ids = example_ids()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                pooled(model), (ids, (ids != 0).long()), str(path), input_names=names,
                output_names=list(outputs), opset_version=17, dynamo=False,
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names},
                              "sentence_embedding": {0: "batch"}},
            )  # fmt: skip
        return

    class Wrapper(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args):  # type: ignore[no-untyped-def]
            out = self.inner(**dict(zip(names, args, strict=True)))
            got = [out.pooler_output if o == "pooler_output" else out.last_hidden_state
                   for o in outputs]  # fmt: skip
            return got[0] if len(got) == 1 else tuple(got)

    ids = torch.tensor([[5, 10, 11, 6], [5, 12, 6, 7]], dtype=torch.int64)
    args = [ids, torch.ones_like(ids), torch.zeros_like(ids)][: len(names)]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, *outputs]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapper(model), tuple(args), str(path), input_names=names,
            output_names=list(outputs), dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip


def example_ids() -> Any:
    """Two padded rows to trace a pooled (Nomic) graph with: the mask is ``ids != 0``."""
    import torch

    return torch.tensor([[5, 10, 11, 6], [5, 12, 6, 0]], dtype=torch.int64)


def pooled(model: Any) -> Any:
    """``model`` behind Nomic's graph interface (masked mean and L2 inside), as the
    fixtures' ``generate_families.NomicPooled`` builds it."""
    from generate_families import NomicPooled

    return NomicPooled.module(model)


def write_onnx(model: Any, spec: Spec, engine_file: Path, member: str, graph: Path) -> None:
    """The engine zip as Spark NLP writes it (deflated), and the plain graph file ``graph``
    the reference loads."""
    export_onnx(model, spec, graph)
    with zipfile.ZipFile(engine_file, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(graph, member)


def write_openvino(model: Any, engine_file: Path, spec: Spec) -> str | None:
    """Writes the OpenVINO engine; returns why not, if not."""
    try:
        import openvino as ov
        from ov_writer import write_engine, zip_ir
    except ImportError as exc:
        return f"skipped: OpenVINO is not installed ({exc.name}; pip install 'modelhub[openvino]')"
    if spec.outputs != ("sentence_embedding",):
        write_engine(model, engine_file)
        return None
    import torch  # Nomic: the pooled module, its output named as Spark NLP's graph's

    ids = example_ids()
    with torch.no_grad():
        ir = ov.convert_model(
            pooled(model), example_input={"input_ids": ids, "attention_mask": (ids != 0).long()},
            input=[(n, ov.PartialShape([-1, -1]), ov.Type.i64) for n in spec.inputs],
        )  # fmt: skip
    ir.outputs[0].get_tensor().set_names({"sentence_embedding"})
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "openvino_model.xml"
        ov.save_model(ir, str(xml), compress_to_fp16=False)
        zip_ir(xml, xml.with_suffix(".bin"), engine_file)
    return None


def write_tensorflow(weights: Path, scheme: str, engine_file: Path) -> str | None:
    """Writes the TensorFlow engine with TensorFlow itself; returns why not, if not."""
    if not TF_PYTHON.is_file():
        return f"skipped: no TensorFlow interpreter ({TF_PYTHON} absent; see tf_family_writer.py)"
    done = subprocess.run(
        [str(TF_PYTHON), str(FIXTURES / "tf_family_writer.py"), str(weights), scheme,
         str(engine_file)],
        capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"skipped: tf_family_writer.py failed ({last[:80]})"
    return None


# ------------------------------------------------------------------- the reference
class Reference:
    """transformers' tokenizer feeding one engine; masked mean of its output."""

    def __init__(self, tok: Any, run: Callable[[dict[str, np.ndarray]], np.ndarray]) -> None:
        self.tok, self.run = tok, run

    def encode(self, items: list[str], batch_size: int = 32) -> np.ndarray:
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))
        rows: list[np.ndarray] = [np.empty(0)] * len(items)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = self.tok([items[i] for i in idx], padding=True, truncation=True,
                             max_length=MAX_LENGTH, return_tensors="np")  # fmt: skip
            hidden = self.run({k: v.astype(np.int64) for k, v in batch.items()})
            if hidden.ndim == 2:  # pooled inside the graph (Nomic)
                pooled = hidden
            else:
                mask = batch["attention_mask"][..., None].astype(np.float32)
                pooled = (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            for j, i in enumerate(idx):
                rows[i] = pooled[j]
        return np.stack(rows)


def onnx_reference(tok: Any, graph: Path, threads: int) -> Reference:
    import onnxruntime as ort

    # the session settings of modelhub's ONNX runner, so the ratio is the overhead around it
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        feed = {n: feed.get(n, np.zeros_like(feed["input_ids"])) for n in names}
        return session.run(None, feed)[0]

    return Reference(tok, run)


def torch_reference(tok: Any, weights: Path, threads: int) -> Reference:
    import torch
    import transformers as tf

    torch.set_num_threads(threads)
    config = tf.AutoConfig.from_pretrained(str(weights))
    cls = tf.T5EncoderModel if config.model_type == "t5" else tf.AutoModel
    model = cls.from_pretrained(str(weights)).eval()

    def run(feed: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            kw = {k: torch.from_numpy(v) for k, v in feed.items() if k != "token_type_ids"}
            return model(**kw).last_hidden_state.numpy()

    return Reference(tok, run)


def openvino_reference(tok: Any, xml: Path, threads: int) -> Reference:
    import openvino as ov

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
@dataclass(frozen=True)
class Spec:
    """One Spark NLP zip to bench: its fixture, reference folder and engine layout
    (the graph's ``inputs`` and ``outputs`` names)."""

    name: str
    fixture: Path
    reference: Path
    inputs: tuple[str, ...]
    outputs: tuple[str, ...] = ("last_hidden_state",)
    tf_scheme: str = "hf"  # tf_family_writer.py's naming scheme for this annotator


def specs() -> list[Spec]:
    from generate_families import TF_ZIPS, ZIPS

    bert = ("input_ids", "attention_mask", "token_type_ids")
    # BertSentenceEmbeddings graphs give the pooler output too (its sentence vector)
    pooled = ("last_hidden_state", "pooler_output")
    schemes = {base: how for base, _name, _annotator, _prefix, how in TF_ZIPS}
    out = [
        Spec("bert_onnx", FIXTURES / "bert_tiny_onnx_uncased.zip", FIXTURES / "reference",
             bert, tf_scheme="hf"),
        Spec("sent_bert_onnx", FIXTURES / "sent_bert_tiny_onnx_uncased.zip",
             FIXTURES / "reference", bert, pooled, "hf"),
    ]  # fmt: skip
    for z in ZIPS:
        out.append(
            Spec(z.name, FIXTURES / "families" / f"{z.name}.zip",
                 FIXTURES / "families" / "reference" / z.reference, z.inputs, (z.output,),
                 schemes.get(z.name, "hf-encoder" if z.reference in ("bert", "t5") else "hf"))
        )  # fmt: skip
    # the families without an ONNX zip (TensorFlow only) and Nomic's pooled graph
    ref = FIXTURES / "families" / "reference"
    out += [
        Spec("xlnet_tensorflow", FIXTURES / "families" / "xlnet_tensorflow.zip", ref / "xlnet",
             ("input_ids", "attention_mask", "token_type_ids"), tf_scheme="xlnet-orig"),
        Spec("longformer_tensorflow", FIXTURES / "families" / "longformer_tensorflow.zip",
             ref / "longformer", ("input_ids", "attention_mask"), tf_scheme="hf"),
        Spec("nomic_onnx", FIXTURES / "families" / "nomic_onnx.zip", ref / "nomic_bert",
             ("input_ids", "attention_mask"), ("sentence_embedding",)),
    ]  # fmt: skip
    return out


def unpack(fixture: Path, target: Path, dimension: int) -> tuple[Path, str | None]:
    """The fixture unpacked with the scaled model's dimension and a 128-piece limit (the
    reference's); returns it and its annotator."""
    with zipfile.ZipFile(fixture) as zf:
        zf.extractall(target)
    meta = target / "metadata" / "part-00000"
    params = json.loads(meta.read_text(encoding="utf-8"))
    params.setdefault("paramMap", {}).update(dimension=dimension, maxSentenceLength=MAX_LENGTH)
    meta.write_text(json.dumps(params), encoding="utf-8")
    for crc in (target / "metadata").glob(".part-00000.crc"):
        crc.unlink()
    return target, str(params.get("class", "")).rsplit(".", 1)[-1]


def set_engine(folder: Path, engine: str) -> tuple[Path, str]:
    """Removes the fixture's engine file and says ``engine`` in the metadata; returns where
    the new engine file goes (the fixture's own prefix, as Spark NLP named it) and the ONNX
    member name the fixture used."""
    meta = folder / "metadata" / "part-00000"
    params = json.loads(meta.read_text(encoding="utf-8"))
    params.setdefault("paramMap", {})["engine"] = engine
    meta.write_text(json.dumps(params), encoding="utf-8")
    prefix, member = "", "model.onnx"
    for kind, path in engine_files(folder).items():
        prefix = path.name.rsplit("_", 1)[0]
        if kind == "onnx":
            with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as zf:
                member = zf.namelist()[0]
        path.unlink()
    return folder / f"{prefix}_{engine}", member


#: one row: (zip, engine, first load s, load s, ref load s, encode sparknlp s,
#: encode hf s | None, ref s)
Row = tuple[Any, ...]


def bench_one(spec: Spec, args: argparse.Namespace, items: list[str]) -> list[Row]:
    import modelhub

    model, _ = scaled_model(spec.reference, args.quick)
    dim = int(getattr(model.config, "hidden_size", 0) or model.config.d_model)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights"
        model.save_pretrained(str(weights))
        for engine in args.engines:
            folder, annotator = unpack(spec.fixture, Path(tmp) / engine, dim)
            family = family_for(annotator)
            if family is not None and engine not in family.engines:
                continue  # Spark NLP has no such engine for this annotator
            engine_file, member = set_engine(folder, engine)
            why: str | None = None

            # the reference loads what a transformers user loads: the tokenizer, and the
            # engine from its own plain files
            def new_tok(ref: Path = spec.reference) -> Any:
                import transformers

                return transformers.AutoTokenizer.from_pretrained(str(ref))

            if engine == "onnx":
                graph = Path(tmp) / f"{engine}.onnx"
                write_onnx(model, spec, engine_file, member, graph)
                make_ref: Callable[[], Reference] = lambda g=graph: onnx_reference(  # noqa: E731
                    new_tok(), g, args.threads
                )
            elif engine == "openvino":
                why = write_openvino(model, engine_file, spec)
                plain = Path(tmp) / "openvino-ir"  # the same IR as plain files
                if why is None:
                    with zipfile.ZipFile(engine_file) as zf:
                        zf.extractall(plain)
                make_ref = lambda d=plain: openvino_reference(  # noqa: E731
                    new_tok(), next(d.rglob("*.xml")), args.threads
                )
            else:
                why = write_tensorflow(weights, spec.tf_scheme, engine_file)
                make_ref = lambda: torch_reference(new_tok(), weights, args.threads)  # noqa: E731
            if why:
                rows.append((spec.name, engine, why))
                continue

            def load(f: Path = folder, **kw: Any) -> Any:
                return modelhub.pretrained(str(f), num_threads=args.threads, **kw)

            try:
                started = time.perf_counter()
                load()  # the first load prepares the zip (modelhub.loaders.sparknlp.prepared)
                t_first = time.perf_counter() - started
                t_load, t_ref_load = best_of_pair(load, make_ref, args.repeat)
                ours, ref = load(), make_ref()
                try:
                    hf = load(semantics="huggingface")
                except TypeError:  # a loader without the two semantics
                    hf = None
                runs = [
                    lambda m=ours: m.encode(items, batch_size=32),
                    lambda r=ref: r.encode(items),
                ]
                if hf is not None:
                    runs.append(lambda m=hf: m.encode(items, batch_size=32))
                t_enc, t_ref, *t_hfs = best_of_all(runs, args.repeat)
                t_hf = t_hfs[0] if t_hfs else None
            except Exception as exc:  # a row that fails says why; the others still run
                rows.append((spec.name, engine, f"error: {type(exc).__name__}: {exc}"[:160]))
                continue
            rows.append((spec.name, engine, t_first, t_load, t_ref_load, t_enc, t_hf, t_ref))
            print(format_row(rows[-1], len(items)), flush=True)
    return rows


HEAD = (
    f"{'zip':26} {'engine':10} {'first ms':>8} {'load ms':>8} {'ref ms':>8} {'ratio':>6} "
    f"{'spark s':>8} {'hf s':>7} {'ref s':>7} {'ref t/s':>7} {'spark×':>6} {'hf×':>6}"
)


def format_row(row: Row, n: int) -> str:
    if len(row) == 3:
        return f"{row[0]:26} {row[1]:10} {row[2]}"
    name, engine, t_first, t_load, t_ref_load, t_enc, t_hf, t_ref = row
    hf = f"{t_hf:7.3f}" if t_hf is not None else f"{'-':>7}"
    hf_ratio = f"{t_hf / t_ref:6.2f}" if t_hf is not None else f"{'-':>6}"
    return (
        f"{name:26} {engine:10} {t_first * 1e3:8.1f} {t_load * 1e3:8.1f} {t_ref_load * 1e3:8.1f} "
        f"{t_load / t_ref_load:6.2f} {t_enc:8.3f} {hf} {t_ref:7.3f} {n / t_ref:7.0f} "
        f"{t_enc / t_ref:6.2f} {hf_ratio}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="hidden 128, 2 layers, 100 texts")
    parser.add_argument("--texts", type=int, help="texts to encode (default 256; quick 100)")
    parser.add_argument("--repeat", type=int, default=3, help="best of R timed runs (3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engines", nargs="+", default=["onnx", "openvino", "tensorflow"])
    parser.add_argument("--only", nargs="+", help="fixture names (e.g. roberta_onnx)")
    args = parser.parse_args()
    try:
        chosen = [s for s in specs() if not args.only or s.name in args.only]
    except ImportError as exc:
        print(f"skipped: the family fixtures' generator is not importable ({exc})")
        return 0
    items = texts(args.texts or (100 if args.quick else 256))
    print(HEAD, flush=True)
    results: list[Row] = []
    # prepared folders go to a cache of the run's own, never the user's
    with tempfile.TemporaryDirectory(prefix="modelhub-bench-cache-") as cache:
        os.environ["MODELHUB_CACHE"] = cache
        for spec in chosen:
            results.extend(bench_one(spec, args, items))
    print("\n" + HEAD)
    worst: dict[str, tuple[float, str]] = {}
    for row in results:
        print(format_row(row, len(items)))
        if len(row) == 3:
            continue
        name, engine, _first, t_load, t_ref_load, t_enc, t_hf, t_ref = row
        for key, ratio in (("load", t_load / t_ref_load), ("encode sparknlp", t_enc / t_ref),
                           ("encode huggingface", (t_hf or 0.0) / t_ref)):  # fmt: skip
            if ratio > worst.get(key, (0.0, ""))[0]:
                worst[key] = (ratio, f"{name} {engine}")
    print()
    for key, (ratio, where) in worst.items():
        print(f"worst {key} ratio (modelhub / reference, time): {ratio:.2f} ({where})")
    print("target: every ratio <= 1.5")
    size = "hidden 128, 2 layers" if args.quick else "hidden 384, 6 layers"
    print(f"texts: {len(items)}; {size}; threads: {args.threads}; best of {args.repeat}; "
          f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    print(f"CPU flags: {cpu_flags()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
