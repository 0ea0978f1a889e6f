"""Spark NLP BERT zip -> Hugging Face directory (config.json, vocab.txt, tokenizer files,
model.safetensors) that ``transformers.AutoModel``/``AutoTokenizer`` load."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.artifact import SparkNlpBert, check_params, open_artifact
from modelhub.loaders.sparknlp.tf_checkpoint import (
    Checkpoint,
    bert_state_dict,
    find_checkpoint,
    heads_from_graph,
    infer_bert_config,
)
from modelhub.safezip import SafeZip

log = logging.getLogger(__name__)

SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}


def engine_model_member(engine: SafeZip, engine_file: Path) -> PurePosixPath:
    """The ONNX graph inside a ``bert_onnx`` engine zip (one member)."""
    files = engine.files()
    if len(files) == 1:
        return files[0]
    named = [p for p in files if p.name in (engine_file.name, "model.onnx")]
    if named:
        return named[0]
    raise ArtifactFormatError(
        f"{engine_file}: expected one ONNX model inside, found "
        f"{', '.join(sorted(p.name for p in files)) or 'nothing'}"
    )


def check_vocab_size(art: SparkNlpBert, vocab_size: int, rows: int, source: str) -> None:
    if vocab_size != rows:
        raise ArtifactFormatError(
            f"{art.root / 'fields' / 'vocabulary'}: the vocabulary has {vocab_size} word pieces "
            f"but the word embedding matrix in {source} has {rows} rows; expected them to match"
        )


def read_weights(
    art: SparkNlpBert, *, num_attention_heads: int | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The engine's weights under transformers ``BertModel`` names and a ``BertConfig``
    dict derived from their shapes."""
    with art.engine_archive() as engine:
        if art.engine == "tensorflow":
            index = find_checkpoint(engine.files())
            if index is None:
                raise ArtifactFormatError(
                    f"{art.engine_file}: no TensorFlow checkpoint inside "
                    "(expected variables/variables.index and variables.data-*)"
                )
            state = bert_state_dict(Checkpoint(index, engine.read))
            heads = num_attention_heads
            if heads is None:
                graphs = sorted(p for p in engine.files() if p.name == "saved_model.pb")
                heads = heads_from_graph(graphs[0], engine.read) if graphs else None
        else:
            from modelhub.loaders.sparknlp.onnx_engine import onnx_state_dict

            member = engine_model_member(engine, art.engine_file)
            state, head_size = onnx_state_dict(engine.read(member), str(member))
            if "embeddings.word_embeddings.weight" not in state:
                raise ArtifactFormatError(
                    f"{art.engine_file}: no BERT word embedding matrix found in the ONNX graph"
                )
            hidden = state["embeddings.word_embeddings.weight"].shape[1]
            heads = num_attention_heads or (hidden // head_size if head_size else None)
    config = infer_bert_config(state, heads, str(art.engine_file))
    missing = sorted(set(expected_keys(config)) - set(state))
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise ArtifactFormatError(
            f"{art.engine_file}: {len(missing)} BERT weight(s) not found in the {art.engine} "
            f"engine: {shown}"
        )
    return state, config


_LAYER_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)


def expected_keys(config: dict[str, Any]) -> list[str]:
    """The ``BertModel`` weights a conversion must provide (the pooler is optional: token
    graphs do not contain it)."""
    keys = [f"embeddings.{k}_embeddings.weight" for k in ("word", "position", "token_type")]
    keys += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    for n in range(int(config["num_hidden_layers"])):
        for part in _LAYER_PARTS:
            keys += [f"encoder.layer.{n}.{part}.weight", f"encoder.layer.{n}.{part}.bias"]
    return keys


def wordpiece_tokenizer(vocab: list[str], *, lowercase: bool) -> Any:
    """BERT's BasicTokenizer + WordPiece over ``vocab`` as a ``tokenizers.Tokenizer``, in
    memory, lowercasing (and stripping accents) when the Spark NLP model was
    case-insensitive."""
    from tokenizers import BertWordPieceTokenizer

    missing = [t for t in SPECIAL_TOKENS.values() if t not in vocab and t != "[MASK]"]
    if missing:
        raise ArtifactFormatError(
            f"the vocabulary lacks BERT's special token(s) {', '.join(missing)}"
        )
    return BertWordPieceTokenizer(
        {piece: i for i, piece in enumerate(vocab)},
        unk_token="[UNK]",
        sep_token="[SEP]",
        cls_token="[CLS]",
        pad_token="[PAD]",
        mask_token="[MASK]",
        lowercase=lowercase,
        strip_accents=None,  # follows lowercase, as BERT's BasicTokenizer does
        clean_text=True,
        handle_chinese_chars=True,
    )


def tokenizer_files(to_dir: Path, vocab: list[str], *, lowercase: bool, max_length: int) -> None:
    """vocab.txt plus tokenizer.json / tokenizer_config.json / special_tokens_map.json for
    :func:`wordpiece_tokenizer` (``modelhub convert``'s output)."""
    tok = wordpiece_tokenizer(vocab, lowercase=lowercase)
    (to_dir / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok.save(str(to_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": lowercase,
        "do_basic_tokenize": True,
        "tokenize_chinese_chars": True,
        "strip_accents": None,
        "model_max_length": max_length,
        **SPECIAL_TOKENS,
    }
    (to_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    (to_dir / "special_tokens_map.json").write_text(json.dumps(SPECIAL_TOKENS, indent=2) + "\n")


def write_hf_dir(
    to_dir: Path,
    art: SparkNlpBert,
    vocab: list[str],
    config: dict[str, Any],
    state: dict[str, np.ndarray] | None,
) -> None:
    """Writes the Hugging Face files into an existing, empty ``to_dir``."""
    config = dict(config)
    config["sparknlp"] = {
        "class": art.metadata.class_name,
        "engine": art.engine,
        "params": art.params(),
    }
    (to_dir / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")
    tokenizer_files(
        to_dir,
        vocab,
        lowercase=not art.case_sensitive,
        max_length=int(config["max_position_embeddings"]),
    )
    if state is not None:
        from safetensors.numpy import save_file

        save_file(
            {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sorted(state.items())},
            str(to_dir / "model.safetensors"),
            metadata={"format": "pt"},
        )


def _check_target(target: Path, overwrite: bool) -> Path:
    """``target`` when convert may write there: not ``.``/``..`` (the folder
    one stands in), not a symbolic link (its files would land elsewhere),
    not a non-empty folder unless ``overwrite``."""
    if target.name in ("", ".", ".."):
        raise ArtifactFormatError(
            f"--to {target}: give the output folder by name (e.g. ./hf-model), not '.' or '..'"
        )
    if target.is_symlink():
        raise ArtifactFormatError(
            f"--to {target} is a symbolic link; give the folder it points at, or a new folder"
        )
    if target.exists() and not target.is_dir():
        raise ArtifactFormatError(f"--to {target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ArtifactFormatError(
            f"{target} exists and is not empty; choose another directory or overwrite"
        )
    return target


def _install(staging: Path, target: Path) -> None:
    """Moves the converted files into ``target``.  A new (or empty) folder
    appears complete at once (one rename); into an existing folder only the
    files convert writes are replaced, each by one rename (which replaces a
    link of that name, never writes through it): nothing else there is
    touched, so ``--overwrite`` never deletes a user's files."""
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        if target.exists():
            target.rmdir()
        staging.rename(target)
        return
    for item in sorted(staging.iterdir()):
        dest = target / item.name
        if dest.is_dir() and not dest.is_symlink():
            raise ArtifactFormatError(
                f"{dest} is a folder where convert writes a file; move it away and convert again"
            )
        os.replace(item, dest)


def convert(
    path: str | Path,
    to_dir: str | Path,
    *,
    num_attention_heads: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Writes a Hugging Face directory for the unpacked Spark NLP BERT zip at ``path``.

    The directory appears complete or not at all (written beside it, then renamed).
    ``num_attention_heads`` is needed only when neither the graph nor BERT's usual head
    size of 64 tells it."""
    target = _check_target(Path(to_dir), overwrite)
    art = open_artifact(Path(path))
    vocab = art.vocabulary()
    state, config = read_weights(art, num_attention_heads=num_attention_heads)
    rows = int(config["vocab_size"])
    check_vocab_size(art, len(vocab), rows, str(art.engine_file))
    check_params(art, int(config["hidden_size"]))
    if "pooler.dense.weight" not in state:
        log.warning(
            "%s has no pooler weights (the token graph does not use them): transformers will "
            "initialise the pooler of the converted model randomly; last_hidden_state is exact",
            art.engine_file,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # A fresh, unique name: never a leftover (or planted) folder or link.
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        write_hf_dir(staging, art, vocab, config, state)
        _install(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("converted %s (%s engine) to %s", art.root, art.engine, target)
    return target
