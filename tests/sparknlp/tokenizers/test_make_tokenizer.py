"""Every transformer row of the families table gets a tokenizer from its own kind of files,
with the specials Spark NLP puts around the pieces, and ``huggingface()`` wraps the same
pieces the upstream way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import family_for, transformer_families
from modelhub.loaders.sparknlp.tokenizers import Encoded, make_tokenizer

from .conftest import spp_bytes

BPE = Path(__file__).resolve().parents[2] / "fixtures" / "sparknlp" / "tokenizers" / "bpe"
SPM = {
    "xlm-roberta": "xlmroberta",
    "camembert": "camembert",
    "deberta": "deberta",
    "albert": "albert",
    "xlnet": "xlnet",
    "instructor": "instructor",
}
TEXT = "the patient, was given a dose"


def _files(trained: Path, annotator: str) -> dict[str, object]:
    family = family_for(annotator)
    assert family is not None
    if family.tokenizer == "wordpiece":
        folder = "mpnet" if family.family == "mpnet" else "wordpiece"
        return {"vocabulary": (trained / folder / "vocab.txt").read_text().splitlines()}
    if family.tokenizer == "bpe":
        lines = (BPE / "merges.txt").read_text(encoding="utf-8").splitlines()
        return {
            "vocabulary": list(json.loads((BPE / "vocab.json").read_text(encoding="utf-8"))),
            "merges": [tuple(line.split(" ")) for line in lines if line],
        }
    return {"spp": spp_bytes(trained, SPM[family.family])}


@pytest.mark.parametrize("annotator", [f.annotator for f in transformer_families()])
def test_each_family_gets_its_tokenizer(trained: Path, annotator: str) -> None:
    family = family_for(annotator)
    assert family is not None
    tok = make_tokenizer(family, case_sensitive=False, max_length=16, **_files(trained, annotator))
    assert all(isinstance(i, int) for i in (*tok.prefix, *tok.suffix, tok.pad_id))
    words = tok.encode_words(TEXT)
    sentence = tok.encode_sentence(TEXT, 16)
    for enc in (words, sentence):
        assert isinstance(enc, Encoded)
        assert len(enc.ids) == len(enc.offsets) == len(enc.word_ids) > 0
        assert all(0 <= b <= e <= len(TEXT) for b, e in enc.offsets)
    assert len(tok.prefix) + len(sentence.ids) + len(tok.suffix) <= 16
    assert set(words.word_ids) <= set(range(7))  # the patient , was given a dose
    hf = tok.huggingface().encode(TEXT).ids
    if family.family == "xlnet":  # Hugging Face: A <sep> <cls>; Spark NLP: <cls> A <sep>
        assert hf[-2:] == [*tok.suffix, *tok.prefix]
    elif family.family != "camembert" or tok.prefix[0] == hf[0]:
        assert hf[: len(tok.prefix)] == list(tok.prefix)
        assert hf[len(hf) - len(tok.suffix) :] == list(tok.suffix)


def test_unknown_kind_is_refused() -> None:
    family = family_for("UniversalSentenceEncoder")
    assert family is not None
    with pytest.raises(ArtifactFormatError, match="no tokenizer for"):
        make_tokenizer(family, case_sensitive=False, max_length=8)
