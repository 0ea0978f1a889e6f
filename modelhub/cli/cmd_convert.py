"""``modelhub convert NAME --to DIR``: write a Hugging Face directory (config.json,
vocab.txt, tokenizer files, model.safetensors) from a Spark NLP BERT zip, so that any
transformers user can load it. NAME is a model name (fetched and verified like ``pull``),
an unpacked model folder, or a ``.zip`` file.

Only argparse at module level; the converter and the registry load in the handler.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from modelhub.cli.argtypes import path, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a Spark NLP BERT zip to a Hugging Face transformers directory",
        description=(
            "Write config.json, vocab.txt, tokenizer files and model.safetensors for a Spark "
            "NLP BertEmbeddings/BertSentenceEmbeddings model (ONNX or TensorFlow engine), "
            "loadable with transformers.AutoModel and AutoTokenizer."
        ),
    )
    p.add_argument("name", help="model name, unpacked model folder, or .zip file")
    p.add_argument("--to", required=True, type=path, metavar="DIR", help="output directory")
    p.add_argument("--lang", default="en", help="language code (default: en)")
    p.add_argument("--version", metavar="V", help="pin a library version, artifact or timestamp")
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument(
        "--num-attention-heads",
        type=positive_int,
        metavar="N",
        help="attention heads, when neither the graph nor head size 64 tells",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty DIR")
    p.add_argument("--json", action="store_true", help="JSON object for scripts")
    p.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from modelhub.cli.output import print_json
    from modelhub.loaders.sparknlp.artifact import safe_extract
    from modelhub.loaders.sparknlp.conversion import convert

    source = Path(args.name).expanduser()
    tmp: Path | None = None
    try:
        if source.is_dir():
            folder = source
        elif source.is_file() and source.suffix == ".zip":
            tmp = Path(tempfile.mkdtemp(prefix="modelhub-convert-"))
            safe_extract(source, tmp)
            folder = tmp
        else:
            from modelhub.registry.pulling import pull

            folder = pull(
                args.name, args.lang, version=args.version, offline=True if args.offline else None
            )
        out = convert(
            folder,
            args.to,
            num_attention_heads=args.num_attention_heads,
            overwrite=args.overwrite,
        )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    files = sorted(p.name for p in out.iterdir())
    if args.json:
        print_json({"name": args.name, "path": str(out), "files": files})
    else:
        print(f"{args.name}: wrote {', '.join(files)}", file=sys.stderr)
        print(out)
    return 0
