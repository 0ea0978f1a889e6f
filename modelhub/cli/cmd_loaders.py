"""``modelhub loaders``, ``modelhub embed`` and ``modelhub similarity``.

Listing loaders never imports torch; embedding imports it inside the handler
(through the loader).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelhub.cli.output import print_json, print_table

PREVIEW_VALUES = 5


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``loaders``, ``embed`` and ``similarity``."""
    p = sub.add_parser(
        "loaders",
        help="list installed loader plugins, what each accepts and which Spark NLP "
        "annotator and engine each runs",
        description="List the loaders found in the entry-point group modelhub.loaders, "
        "best first (priority, then name), and what each accepts; then Spark NLP's "
        "transformer embeddings annotators by engine (tensorflow, onnx, openvino, and the "
        "upstream Hugging Face directory) with the loader that runs each.",
    )
    p.add_argument("--json", action="store_true", help="a JSON array, one object per loader")
    p.set_defaults(func=cmd_loaders)

    p = sub.add_parser(
        "embed",
        help="embed texts with a model: one vector per token (or per text)",
        description="Load NAME (resolve, fetch, verify, cache) and embed each TEXT. "
        "Prints each token with the first values of its vector; --json or --npy for all "
        "values. NAME may also be a local model directory (/..., ./..., ~/...).",
    )
    _model_args(p)
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.add_argument(
        "--sentence",
        action="store_true",
        help="one vector per text, as sentence-transformers' encode() gives it (the "
        "model's modules.json: pooling, Dense, Normalize; else the mean of its token "
        "states) instead of one per token",
    )
    p.add_argument(
        "--pooling",
        choices=("first", "mean", "cls"),
        help="tokens: first (default, Spark NLP's rule) or mean of the word pieces; "
        "with --sentence: mean or cls of the token states instead of the model's own "
        "pooling",
    )
    p.add_argument("--normalize", action="store_true", help="L2-normalize the vectors")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON with every value")
    out.add_argument(
        "--npy",
        metavar="FILE",
        help="write a float32 .npy: (tokens of all texts in order, dim), or (texts, dim) "
        "with --sentence",
    )
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser(
        "similarity",
        help="rank texts by cosine similarity to the first",
        description="Embed every TEXT (the model's encode(), normalized) and print the texts after "
        "the first, most similar to it first, one per line with its cosine similarity.",
    )
    _model_args(p)
    p.add_argument("query", metavar="TEXT")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.add_argument("--json", action="store_true", help="a JSON array of {text, score}")
    p.set_defaults(func=cmd_similarity)


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="model name, or a local model directory")
    p.add_argument("--lang", default="en", help="language code (default: en)")
    p.add_argument("--version", help="Spark NLP version to resolve for (default: newest)")
    p.add_argument("--loader", help="force this loader (see `modelhub loaders`)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--dtype",
        default="auto",
        help="auto (default: float32 on a CPU, bfloat16 on a GPU that supports it), "
        "float32 (also fp32, float), bfloat16 (bf16), float16 (fp16, half) or int8 "
        "(qint8; ONNX Runtime); bfloat16/float16/int8 are faster and lossy",
    )
    p.add_argument(
        "--engine",
        default="auto",
        help="what computes the hidden states: auto (default) or an engine of "
        "`modelhub.loaders.engines` (torch)",
    )
    p.add_argument("--max-length", type=int, help="word pieces per text, special tokens included")
    p.add_argument(
        "--overflow",
        choices=("truncate", "window"),
        help="texts longer than --max-length: truncate (default, with a warning) or embed "
        "all of them in overlapping windows",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        default=None,
        help="no network: the cache and local sources (package, mirror, file://) only",
    )


def cmd_loaders(args: argparse.Namespace) -> int:
    from modelhub.loaders.discovery import discover

    entries = discover()
    if args.json:
        rows: list[dict[str, Any]] = []
        for e in entries:
            row = e.loader.describe() if e.loader is not None else {"name": e.name}
            row.update(
                entry_point=e.entry_point,
                distribution=e.distribution,
                error=e.error,
            )
            if e.loader is not None:
                row["accepts"] = e.loader.accepts_text()
            rows.append(row)
        print_json(rows)
        return 0 if entries else 1
    if not entries:
        print("no loaders installed (entry-point group modelhub.loaders)", file=sys.stderr)
        return 1
    print_table(
        ("name", "priority", "formats", "engines", "package", "accepts"),
        [
            (
                e.name,
                e.loader.priority if e.loader else None,
                ",".join(e.loader.formats) if e.loader else None,
                ",".join(e.loader.engines) if e.loader else None,
                e.distribution,
                e.loader.accepts_text() if e.loader else f"BROKEN: {e.error}",
            )
            for e in entries
        ],
    )
    print()
    _print_matrix([e.loader for e in entries if e.loader is not None])
    return 0


def _print_matrix(loaders: list[Any]) -> None:
    """Spark NLP's transformer annotators × engines, and which loader runs each: "-"
    where none installed does, "n/a" where Spark NLP has no such engine."""
    from modelhub.loaders.coverage import COLUMNS, matrix

    def cell(names: tuple[str, ...] | None) -> str:
        if names is None:
            return "n/a"
        return ",".join(names) or "-"

    print_table(
        ("annotator", *COLUMNS),
        [(r.annotator, *(cell(r.cells[c]) for c in COLUMNS)) for r in matrix(loaders)],
    )


class _Status:
    """One status line on stderr while something slow happens, on a terminal
    only, wiped afterwards (so it never ends up in a log or a pipe)."""

    def __init__(self, text: str) -> None:
        isatty = getattr(sys.stderr, "isatty", None)
        self.shown = bool(isatty and not sys.stderr.closed and isatty())
        if self.shown:
            sys.stderr.write(f"\r{text}")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False


def _load(args: argparse.Namespace) -> Any:
    from modelhub.api import pretrained
    from modelhub.loaders.engines import check_engine
    from modelhub.loaders.runtime import check_device, check_dtype

    # Bad values fail before anything is fetched or loaded (OptionError: exit 2).
    check_device(args.device)
    check_dtype(args.dtype)
    check_engine(args.engine)
    options: dict[str, Any] = {}
    if args.max_length is not None:
        options["max_length"] = args.max_length
    if args.overflow is not None:
        options["overflow"] = args.overflow
    if args.engine != "auto":
        options["engine"] = args.engine
    status = _Status(f"loading {args.name} ({args.lang})\u2026")
    try:
        return pretrained(
            args.name,
            args.lang,
            version=args.version,
            device=args.device,
            dtype=args.dtype,
            offline=args.offline,
            loader=args.loader,
            **options,
        )
    finally:
        status.clear()


def _preview(values: Any) -> str:
    head = ", ".join(f"{float(v):.8f}" for v in values[:PREVIEW_VALUES])
    return f"[{head}, ...]" if len(values) > PREVIEW_VALUES else f"[{head}]"


def cmd_embed(args: argparse.Namespace) -> int:
    if args.sentence and args.pooling == "first":
        print("modelhub embed: error: --pooling first needs token vectors", file=sys.stderr)
        return 2
    if not args.sentence and args.pooling == "cls":
        print("modelhub embed: error: --pooling cls needs --sentence", file=sys.stderr)
        return 2
    model = _load(args)
    if args.sentence:
        return _embed_sentences(args, model)
    results = model.embed(
        args.texts, pooling=args.pooling or "first", normalize=args.normalize or None
    )
    if args.npy:
        import numpy as np

        dim = model.dim
        stacked = [r.vectors for r in results if len(r)]
        array = np.concatenate(stacked) if stacked else np.zeros((0, dim), dtype=np.float32)
        np.save(args.npy, array.astype(np.float32))
        print(f"wrote {args.npy}: {array.shape[0]} tokens x {dim}", file=sys.stderr)
        return 0
    if args.json:
        print_json(
            {
                "model": model.name,
                "dimension": model.dim,
                "results": [
                    {"text": t, **r.to_dict()} for t, r in zip(args.texts, results, strict=True)
                ],
            }
        )
        return 0
    for i, (text, r) in enumerate(zip(args.texts, results, strict=True)):
        if i:
            print()
        if len(args.texts) > 1:
            print(f"# {text}")
        print_table(
            ("token", "begin", "end", f"embeddings ({model.dim} values)"),
            [
                (tok, b, e, _preview(v))
                for tok, (b, e), v in zip(r.tokens, r.offsets, r.vectors, strict=True)
            ],
        )
    return 0


def _embed_sentences(args: argparse.Namespace, model: Any) -> int:
    if args.pooling:
        vectors = model.embed_sentences(
            args.texts, pooling=args.pooling, normalize=args.normalize or None
        )
    else:
        vectors = model.encode(args.texts, normalize_embeddings=args.normalize or None)
    dim = int(vectors.shape[1])
    if args.npy:
        import numpy as np

        np.save(args.npy, vectors.astype(np.float32))
        print(f"wrote {args.npy}: {vectors.shape[0]} texts x {vectors.shape[1]}", file=sys.stderr)
        return 0
    if args.json:
        print_json(
            {
                "model": model.name,
                "dimension": dim,
                "results": [
                    {"text": t, "vector": v.tolist()}
                    for t, v in zip(args.texts, vectors, strict=True)
                ],
            }
        )
        return 0
    print_table(
        ("text", f"embedding ({dim} values)"),
        [(t, _preview(v)) for t, v in zip(args.texts, vectors, strict=True)],
    )
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    model = _load(args)
    vectors = model.encode([args.query, *args.texts], normalize_embeddings=True)
    scores = vectors[1:] @ vectors[0]
    ranked = sorted(zip(args.texts, scores.tolist(), strict=True), key=lambda ts: -ts[1])
    if args.json:
        print_json([{"text": t, "score": round(s, 6)} for t, s in ranked])
        return 0
    for text, score in ranked:
        print(f"{score:7.4f}  {text}")
    return 0
