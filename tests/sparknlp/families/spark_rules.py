"""Spark NLP's rules restated independently of modelhub's code (research §1.6-§3), for the
tests: which ids the ONNX mask drops, how sentence vectors pool, and the Spark NLP tokens
and pieces of a text, computed with the reference transformers tokenizer and model."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

#: zip -> ids the ONNX attention mask sets to 0 (``id != 0`` etc., among real tokens).
MASKED: dict[str, set[int]] = {
    "distilbert_onnx": {0},
    "roberta_onnx": {0},  # masks <s> (research §2.2, O4)
    "roberta_sentence_onnx": {1},
    "xlmroberta_onnx": {0},  # masks <s> (research §2.3, O4)
    "xlmroberta_sentence_onnx": set(),
    "camembert_onnx": {0},
    "deberta_onnx": {0},
    "albert_onnx": {0},
    "mpnet_onnx": {1},
    "instructor_onnx": {0},
}
#: zip -> sentence pooling of the ONNX path; word-level zips average their token vectors.
POOLING: dict[str, str] = {
    "roberta_sentence_onnx": "mean_l2",
    "xlmroberta_sentence_onnx": "mean_l2",
    "e5_onnx": "mean_l2",
    "bge_onnx": "cls_l2",  # useCLSToken=true in its metadata
    "bge_mean_onnx": "mean_l2",  # saved without useCLSToken
    "minilm_onnx": "mean_l2",
    "mpnet_onnx": "mean_l2",
    "mxbai_onnx": "cls",  # poolingStrategy cls, no L2
    "uae_onnx": "avg",  # poolingStrategy avg, no L2
    "instructor_onnx": "instructor",
}
WORD_LEVEL = (
    "distilbert_onnx",
    "roberta_onnx",
    "xlmroberta_onnx",
    "camembert_onnx",
    "deberta_onnx",
    "albert_onnx",
)
#: SentencePiece families whose encoder drops the bare "▁" piece of a token.
DROPS_BARE = {"xlm-roberta", "deberta-v2", "albert"}
# Spark NLP tokens: runs of word characters, or single punctuation marks.
TOKEN = re.compile(r"\w+|[^\w\s]")


def hidden(model: Any, ids: list[int], mask: list[int], types: bool) -> np.ndarray:
    import torch

    t = torch.tensor([ids])
    kwargs = {"input_ids": t, "attention_mask": torch.tensor([mask])}
    if types:
        kwargs["token_type_ids"] = torch.zeros_like(t)
    with torch.no_grad():
        return model(**kwargs).last_hidden_state[0].numpy()


def specials(tok: Any) -> tuple[list[int], list[int]]:
    enc = tok("a")
    ids, special = (
        enc["input_ids"],
        tok.get_special_tokens_mask(enc["input_ids"], already_has_special_tokens=True),
    )
    first = special.index(0)
    last = len(special) - 1 - special[::-1].index(0)
    return ids[:first], ids[last + 1 :]


def token_pieces(ref: str, tok: Any, text: str, begin: int, word: str) -> list[int]:
    """The pieces Spark NLP keeps for one token (re-tokenized alone)."""
    if ref == "roberta":
        # Ġ on word starts except at document offset 0; tokens are single regex chunks here
        return tok((" " if begin else "") + word, add_special_tokens=False)["input_ids"]
    ids = tok(word, add_special_tokens=False)["input_ids"]
    if ref in DROPS_BARE:
        bare = tok.convert_tokens_to_ids("▁")
        ids = [i for i in ids if i != bare]
    return ids


def spark_word_vectors(
    name: str, ref: str, model: Any, tok: Any, text: str, types: bool
) -> tuple[list[str], np.ndarray]:
    """Spark NLP's word-level vectors of ``text`` alone: each token's first piece."""
    prefix, suffix = specials(tok)
    words = [(m.group(), m.start()) for m in TOKEN.finditer(text)]
    pieces = [token_pieces(ref, tok, text, b, w) for w, b in words]
    ids = prefix + [i for p in pieces for i in p] + suffix
    mask = [0 if i in MASKED[name] else 1 for i in ids]
    states = hidden(model, ids, mask, types)
    out_words, rows, at = [], [], len(prefix)
    for (w, _), p in zip(words, pieces, strict=True):
        if p:
            out_words.append(w)
            rows.append(states[at])
        at += len(p)
    return out_words, np.array(rows)


def spark_sentence_vector(
    name: str, model: Any, tok: Any, text: str, types: bool, instruction: str = ""
) -> np.ndarray:
    """Spark NLP's sentence vector of ``text`` alone."""
    ids = tok(instruction + text)["input_ids"]
    mask = [0 if i in MASKED.get(name, set()) else 1 for i in ids]
    states = hidden(model, ids, mask, types)
    how = POOLING[name]
    m = np.array(mask, dtype=np.float32)
    if how == "instructor":
        m[: len(tok(instruction, add_special_tokens=False)["input_ids"])] = 0
    mean = (states * m[:, None]).sum(0) / max(m.sum(), 1e-9)
    vec = states[0] if how in ("cls", "cls_l2") else mean
    if how.endswith("_l2") or how == "instructor":
        vec = vec / np.linalg.norm(vec)
    return vec
