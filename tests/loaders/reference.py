"""The expected results, computed with transformers directly (AutoTokenizer +
AutoModel), independently of modelhub's code path."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def reference_tokens(
    path: Path, text: str, *, pooling: str = "first", max_length: int = 512
) -> tuple[list[str], np.ndarray]:
    """Words (as the text's characters) and one vector each: first piece, or
    the mean of the pieces."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    enc = tok(
        [text],
        return_tensors="pt",
        return_offsets_mapping=True,
        truncation=True,
        max_length=max_length,
    )
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state[0].numpy()
    groups: dict[int, list[int]] = {}
    for pos, w in enumerate(enc.word_ids(0)):
        if w is not None:
            groups.setdefault(w, []).append(pos)
    words, vectors = [], []
    for w in sorted(groups):
        pos = groups[w]
        words.append(text[offsets[pos[0]][0] : offsets[pos[-1]][1]])
        vectors.append(hidden[pos[0]] if pooling == "first" else hidden[pos].mean(0))
    return words, np.stack(vectors)


def reference_sentences(path: Path, texts: list[str], *, pooling: str = "mean") -> np.ndarray:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    out = []
    for text in texts:
        enc = tok([text], return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state[0].numpy()
        out.append(hidden[0] if pooling == "cls" else hidden.mean(0))
    return np.stack(out)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
