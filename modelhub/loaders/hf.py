"""Recognising a Hugging Face transformers directory without importing torch
or transformers: which files it has and what its config says."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelhub.errors import ArtifactFormatError

#: ``model_type`` values of the BERT-family encoders the built-in classes of
#: transformers run (no remote code): their ``AutoModel`` returns
#: ``last_hidden_state`` for ``input_ids``/``attention_mask``.
BERT_FAMILY: frozenset[str] = frozenset(
    {
        "bert",
        "roberta",
        "xlm-roberta",
        "camembert",
        "distilbert",
        "albert",
        "electra",
        "mpnet",
        "deberta",
        "deberta-v2",
        "ernie",
        "megatron-bert",
        "modernbert",
        # Encoders whose AutoModel differs from BERT's but still maps ids to one
        # hidden state per piece: XLNet (relative attention; right padding with a
        # mask gives the same states as its tokenizer's left padding), Longformer
        # (local attention windows), and T5 (only its encoder stack runs, as
        # sentence-transformers does for T5 models).
        "xlnet",
        "longformer",
        "t5",
        "mt5",
    }
)

#: ``model_type`` values whose encoder is not what ``AutoModel`` builds.
ENCODER_ONLY: frozenset[str] = frozenset({"t5", "mt5"})

SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PICKLES = ("pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True, slots=True)
class HFDirectory:
    """What a Hugging Face model directory holds."""

    root: Path
    config: dict[str, Any]
    weights: Path  # the safetensors file/index, else the pickle file/index
    tokenizer_json: Path | None
    vocab: Path | None  # vocab.txt / vocab.json / sentencepiece model
    tokenizer_config: dict[str, Any]
    sentence_config: dict[str, Any]  # sentence_bert_config.json (sentence-transformers)

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", ""))

    @property
    def safetensors(self) -> bool:
        return self.weights.name.startswith("model.safetensors")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactFormatError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ArtifactFormatError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def find_root(path: Path) -> Path | None:
    """The directory holding ``config.json``: ``path`` itself, or its only
    subdirectory (an unpacked zip whose members sit under one folder)."""
    if (path / "config.json").is_file():
        return path
    subdirs = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(subdirs) == 1 and (subdirs[0] / "config.json").is_file():
        return subdirs[0]
    return None


def inspect_dir(path: Path) -> HFDirectory | str:
    """An :class:`HFDirectory`, or a short reason why ``path`` is not a
    BERT-family transformers directory we can load safely."""
    path = Path(path)
    if not path.is_dir():
        return f"{path} is not a directory"
    root = find_root(path)
    if root is None:
        return "no config.json (not a Hugging Face transformers directory)"
    try:
        config = _read_json(root / "config.json")
    except ArtifactFormatError as exc:
        return str(exc)
    model_type = config.get("model_type")
    if model_type not in BERT_FAMILY:
        if config.get("auto_map"):
            return (
                f"model_type {model_type!r} needs code from the model repository "
                "(auto_map); modelhub never runs remote code"
            )
        return f"model_type {model_type!r} is not a BERT-family encoder"
    weights = next((root / n for n in SAFETENSORS + PICKLES if (root / n).is_file()), None)
    if weights is None:
        return "no weights (model.safetensors or pytorch_model.bin)"
    tokenizer_json = root / "tokenizer.json"
    vocab = next(
        (
            root / n
            for n in (
                "vocab.txt",
                "vocab.json",
                "spiece.model",
                "sentencepiece.bpe.model",
                "spm.model",
            )
            if (root / n).is_file()
        ),
        None,
    )
    if not tokenizer_json.is_file() and vocab is None:
        return "no tokenizer (tokenizer.json or vocab.txt)"
    try:
        tok_config = (
            _read_json(root / "tokenizer_config.json")
            if (root / "tokenizer_config.json").is_file()
            else {}
        )
        st_config = (
            _read_json(root / "sentence_bert_config.json")
            if (root / "sentence_bert_config.json").is_file()
            else {}
        )
    except ArtifactFormatError as exc:
        return str(exc)
    return HFDirectory(
        root=root,
        config=config,
        weights=weights,
        tokenizer_json=tokenizer_json if tokenizer_json.is_file() else None,
        vocab=vocab,
        tokenizer_config=tok_config,
        sentence_config=st_config,
    )
