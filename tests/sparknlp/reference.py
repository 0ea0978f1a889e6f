"""What the tests compare against: the reference weights run by transformers directly,
with Hugging Face's own BERT tokenizer and Spark NLP's first-piece rule."""

from __future__ import annotations

import functools

import numpy as np

from .conftest import REFERENCE


@functools.cache
def reference_model():  # type: ignore[no-untyped-def]
    from transformers import BertModel

    return BertModel.from_pretrained(str(REFERENCE)).eval()


def first_piece_vectors(words: list[str], *, lowercase: bool, max_length: int) -> np.ndarray:
    """Vectors of ``words`` (one text, already split) as transformers computes them, taking
    each word's first word piece; words cut off by truncation are dropped."""
    import torch
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(str(REFERENCE / "vocab.txt"), do_lower_case=lowercase)
    enc = tok(
        words,
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    with torch.no_grad():
        hidden = reference_model()(**enc).last_hidden_state[0].numpy()
    first: dict[int, int] = {}
    for position, word in enumerate(enc.word_ids(0)):
        if word is not None and word not in first:
            first[word] = position
    return np.stack([hidden[first[w]] for w in sorted(first)])


def pooled(texts: list[str], *, lowercase: bool, max_length: int) -> np.ndarray:
    import torch
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(str(REFERENCE / "vocab.txt"), do_lower_case=lowercase)
    enc = tok(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    with torch.no_grad():
        return reference_model()(**enc).pooler_output.numpy()
