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
    "roberta_onnx": {0},  # masks <s> (research §2.2; open-points §6)
    "roberta_sentence_onnx": {1},
    "xlmroberta_onnx": {0},  # masks <s> (research §2.3; open-points §6)
    # id != SentencePadTokenId (1): <pad>, and spm's <unk> (0) + 1 = 1, so unknown pieces
    # are masked (XlmRoberta.scala @48e0004b tagSequence; open-points §3)
    "xlmroberta_sentence_onnx": {1},
    "camembert_onnx": {0},
    "deberta_onnx": {0},
    "albert_onnx": {0},
    "mpnet_onnx": {1},
    "instructor_onnx": {0},
    # OpenVINO: the pad rule where Spark NLP's OV path uses it (research §2, families table)
    "bert_openvino": {0},
    "distilbert_openvino": {0},
    "roberta_openvino": {1},  # id != pad: <s> attended, unlike ONNX
    "xlmroberta_openvino": {0},  # as ONNX: the OV helper's default pad is 0 (open-points §6)
    "xlmroberta_sentence_openvino": {1},  # as ONNX (open-points §3)
    "mpnet_openvino": {1},
    # TensorFlow
    "distilbert_tensorflow": {0},
    "roberta_tensorflow": {1},
    "roberta_sentence_tensorflow": {1},
    "xlmroberta_tensorflow": {1},  # id != 1 (research §2.3)
    # id != pad, and CamemBERT's pad is spm("<pad>") + 4, the unk piece + 4 when the spm
    # model has no <pad> (S5): unknown pieces are masked out
    "camembert_tensorflow": {4},
    "albert_tensorflow": {0},
    "mpnet_tensorflow": {1},
    "instructor_tensorflow": {0},
    "deberta_tensorflow": {0},  # id != pad, [PAD] = 0
    "xlmroberta_sentence_tensorflow": {1},  # as ONNX (open-points §3)
    "xlnet_tensorflow": {5},  # id != pad, <pad> = 5 (xlnet-base-cased's layout)
    "longformer_tensorflow": {1},  # id != pad
    "bert_sentence_tensorflow": {0},
    # OpenVINO: id != pad where the family table says "*"
    "camembert_openvino": {4},  # pad = spm("<pad>") + 4 = unk + 4 (S5), as TensorFlow
    "deberta_openvino": {0},
    "albert_openvino": {0},
    "roberta_sentence_openvino": {1},
    "minilm_openvino": {0},
    "bert_sentence_openvino": {0},
}
#: zip -> sentence pooling of the ONNX path; word-level zips average their token vectors.
POOLING: dict[str, str] = {
    "roberta_sentence_onnx": "mean_l2",
    "xlmroberta_sentence_onnx": "mean_l2",
    "e5_onnx": "mean_l2",
    "bge_onnx": "cls_l2",  # useCLSToken=true in its metadata
    "bge_mean_onnx": "mean_l2",  # useCLSToken=false in its metadata
    "minilm_onnx": "mean_l2",
    "mpnet_onnx": "mean_l2",
    "mxbai_onnx": "cls",  # poolingStrategy cls, no L2
    "uae_onnx": "avg",  # poolingStrategy avg, no L2
    "instructor_onnx": "instructor",
    "xlmroberta_sentence_openvino": "mean_l2",
    "e5_openvino": "mean_l2",
    "mpnet_openvino": "mean_l2",
    "uae_openvino": "avg",
    "roberta_sentence_tensorflow": "pooler",  # research §3.1
    # E5/MPNet TF graphs pool in-graph; these give token states: pooled as ONNX
    "e5_tensorflow": "mean_l2",
    "mpnet_tensorflow": "mean_l2",
    # token states from the TF graph: pooled as ONNX with its useCLSToken=true
    "bge_tensorflow": "cls_l2",
    "mxbai_tensorflow": "cls",
    "uae_tensorflow": "avg",
    "instructor_tensorflow": "instructor",
    "xlmroberta_sentence_tensorflow": "pooler",  # research §3.2
    "minilm_openvino": "mean_l2",
    # Spark NLP's OpenVINO path ignores useCLSToken (=true here): mean + L2 (open-points §1)
    "bge_openvino": "mean_l2",
    "roberta_sentence_openvino": "mean_l2",
    "bert_sentence_openvino": "pooler",
    "bert_sentence_tensorflow": "pooler",
}
WORD_LEVEL = (
    "distilbert_onnx",
    "roberta_onnx",
    "xlmroberta_onnx",
    "camembert_onnx",
    "deberta_onnx",
    "albert_onnx",
    "bert_openvino",
    "distilbert_openvino",
    "roberta_openvino",
    "xlmroberta_openvino",
    "distilbert_tensorflow",
    "roberta_tensorflow",
    "xlmroberta_tensorflow",
    "camembert_tensorflow",
    "albert_tensorflow",
    "camembert_openvino",
    "deberta_openvino",
    "albert_openvino",
    "deberta_tensorflow",
    "xlnet_tensorflow",
    "longformer_tensorflow",
)
#: SentencePiece references: (model file, id offset Spark NLP adds, lower-cased).
SPM: dict[str, tuple[str, int, bool]] = {
    "xlm-roberta": ("sentencepiece.bpe.model", 1, False),
    "camembert": ("sentencepiece.bpe.model", 4, False),
    "deberta-v2": ("spm.model", 0, False),
    "deberta-v3": ("spm.model", 0, False),
    "albert": ("spiece.model", 0, True),
    "t5": ("spiece.model", 0, False),
    "xlnet": ("spiece.model", 0, False),
}
_SP: dict[str, Any] = {}


def sentencepiece(ref: str) -> Any:
    if ref not in _SP:
        import sentencepiece as spm

        from .conftest import REFERENCE

        _SP[ref] = spm.SentencePieceProcessor(model_file=str(REFERENCE / ref / SPM[ref][0]))
    return _SP[ref]


def spm_ids(ref: str, text: str) -> list[int]:
    """SentencepieceEncoder (research §1.7): spm ids + the family's offset, the bare "▁"
    piece dropped; CamemBERT compares with the offset added twice, so it keeps the bare
    piece and drops the spm id ``"▁" + 4`` instead (S5)."""
    sp = sentencepiece(ref)
    _, offset, lower = SPM[ref]
    bare = sp.piece_to_id("▁")
    ids = [i + offset for i in sp.encode(text.lower() if lower else text)]
    dropped = bare + offset + (offset if ref == "camembert" else 0)
    return [i for i in ids if i != dropped]


# Spark NLP tokens: runs of word characters, or single punctuation marks.
TOKEN = re.compile(r"\w+|[^\w\s]")


def hidden(
    model: Any, ids: list[int], mask: list[int], types: bool, output: str = "last_hidden_state"
) -> np.ndarray:
    import torch

    t = torch.tensor([ids])
    kwargs = {"input_ids": t, "attention_mask": torch.tensor([mask])}
    if types:
        kwargs["token_type_ids"] = torch.zeros_like(t)
    with torch.no_grad():
        return getattr(model(**kwargs), output)[0].numpy()


def specials(tok: Any) -> tuple[list[int], list[int]]:
    enc = tok("a")
    ids, special = (
        enc["input_ids"],
        tok.get_special_tokens_mask(enc["input_ids"], already_has_special_tokens=True),
    )
    first = special.index(0)
    last = len(special) - 1 - special[::-1].index(0)
    return ids[:first], ids[last + 1 :]


# GPT-2's split pattern (research §1.7), for the ASCII texts of these tests.
GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def bpe_chunk(tok: Any, chunk: str, begin: int) -> list[int]:
    """RobertaTokenizer.getTokenPieces: the chunk's merges, then "Ġ" put before the first
    piece when it has none, unless the chunk starts the document; <unk> when missing."""
    pieces = tok.tokenize(chunk)
    if begin and pieces and not pieces[0].startswith("Ġ"):
        pieces[0] = "Ġ" + pieces[0]
    vocab = tok.get_vocab()
    return [vocab.get(p, vocab["<unk>"]) for p in pieces]


def bpe_sentence(tok: Any, text: str) -> list[int]:
    import regex

    return [i for m in regex.finditer(GPT2, text) for i in bpe_chunk(tok, m.group(), m.start())]


def token_pieces(ref: str, tok: Any, text: str, begin: int, word: str) -> list[int]:
    """The pieces Spark NLP keeps for one token (re-tokenized alone)."""
    if ref in ("roberta", "longformer"):
        return bpe_chunk(tok, word, begin)  # the tokens here are single GPT-2 chunks
    if ref in SPM:
        return spm_ids(ref, word)
    return tok(word, add_special_tokens=False)["input_ids"]


def spark_word_vectors(
    name: str, ref: str, model: Any, tok: Any, text: str, types: bool, max_length: int = 24
) -> tuple[list[str], np.ndarray]:
    """Spark NLP's word-level vectors of ``text`` alone: each token's first piece."""
    prefix, suffix = specials(tok)
    if ref == "xlnet":
        # Xlnet.scala @56a29f29 (the newest stored version): prepareBatchInputsWithPadding
        # with start <cls> and end <sep>, i.e. <cls> pieces <sep>, vectors read at 1..n
        # (Hugging Face: pieces <sep> <cls>)
        prefix, suffix = [tok.convert_tokens_to_ids("<cls>")], [tok.convert_tokens_to_ids("<sep>")]
    words = [(m.group(), m.start()) for m in TOKEN.finditer(text)]
    pieces = [token_pieces(ref, tok, text, b, w) for w, b in words]
    # Spark NLP keeps maxSentenceLength - 2 pieces (24 in the fixtures): a token whose
    # first piece is cut off gets no vector.
    room, cut = max_length - len(prefix) - len(suffix), []
    for p in pieces:
        cut.append(p[: max(room, 0)])
        room -= len(p)
    pieces = cut
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
    """Spark NLP's sentence vector of ``text`` alone (maxSentenceLength 24, Instructor 64)."""
    ref = model.config.model_type
    instruction_len = 0
    if ref == "roberta":  # every GPT-2 chunk of the text, pieces cut to 22
        ids = [0, *bpe_sentence(tok, text)[:22], 2]
    elif ref == "xlm-roberta":  # text cut to maxSentenceLength characters first
        ids = [0, *spm_ids(ref, text[:24])[:22], 2]
    elif ref == "t5":  # instruction + text, then EOS 1
        ids = [*sentencepiece(ref).encode(instruction + text)[:63], 1]
        instruction_len = len(sentencepiece(ref).encode(instruction))
    else:
        ids = tok(text)["input_ids"]
    mask = [0 if i in MASKED.get(name, set()) else 1 for i in ids]
    how = POOLING[name]
    if how == "pooler":
        return hidden(model, ids, mask, types, "pooler_output")
    states = hidden(model, ids, mask, types)
    m = np.array(mask, dtype=np.float32)
    if how == "instructor":
        m[:instruction_len] = 0
    mean = (states * m[:, None]).sum(0) / max(m.sum(), 1e-9)
    vec = states[0] if how in ("cls", "cls_l2") else mean
    if how.endswith("_l2") or how == "instructor":
        vec = vec / np.linalg.norm(vec)
    return vec
