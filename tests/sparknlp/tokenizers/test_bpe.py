"""Byte-level BPE zips (RoBERTa, Longformer, RoBERTa-Sentence): vocabulary and merges from
the ``tokenizers`` trainer (tests/fixtures/sparknlp/tokenizers/bpe) and as the JVM wrote
them (roberta_bpe_fields.zip, merges a pair-keyed map). Hugging Face rebuild vs the
transformers classes, and Spark NLP's rules: first chunk only, ``Ġ`` on word starts except
at document offset 0, ``Ġ`` put after the merges, every chunk in sentence mode."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import family_for
from modelhub.loaders.sparknlp.sparkml import read_merges, read_vocabulary
from modelhub.loaders.sparknlp.tokenizers import make_tokenizer
from modelhub.loaders.sparknlp.tokenizers.bpe import gpt2_chunks

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sparknlp"
BPE = FIXTURES / "tokenizers" / "bpe"
TEXTS = [
    "The patient was given a dose of aspirin.",
    "Café naïve résumé in Zürich, 1955!",
    "don't stop: it's e-mail 東京 😀",
    "  leading and  double  spaces ",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[tuple[str, str]]]:
    """The JVM-written fields of a RoBertaEmbeddings zip, read back."""
    root = tmp_path_factory.mktemp("roberta")
    with zipfile.ZipFile(FIXTURES / "roberta_bpe_fields.zip") as zf:
        zf.extractall(root)
    return read_vocabulary(root), read_merges(root)


def _tok(files, annotator: str = "RoBertaEmbeddings", *, cased: bool = True, max_length: int = 128):  # type: ignore[no-untyped-def]
    vocab, merges = files
    return make_tokenizer(
        family_for(annotator),
        vocabulary=vocab,
        merges=merges,
        case_sensitive=cased,
        max_length=max_length,
    )


@pytest.mark.parametrize(
    ("annotator", "cls_name"),
    [
        ("RoBertaEmbeddings", "RobertaTokenizerFast"),
        ("LongformerEmbeddings", "LongformerTokenizerFast"),
        ("RoBertaSentenceEmbeddings", "RobertaTokenizerFast"),
    ],
)
def test_huggingface_equals_the_transformers_class(files, annotator: str, cls_name: str) -> None:  # type: ignore[no-untyped-def]
    import transformers

    reference = getattr(transformers, cls_name).from_pretrained(str(BPE))
    ours = _tok(files, annotator).huggingface()
    assert files[0] == list(json.loads((BPE / "vocab.json").read_text(encoding="utf-8")))
    for text in TEXTS:
        assert ours.encode(text).ids == reference(text)["input_ids"], text


def test_specials_come_from_the_vocabulary(files) -> None:  # type: ignore[no-untyped-def]
    vocab = files[0]
    tok = _tok(files)
    assert (tok.prefix, tok.suffix, tok.pad_id) == (
        (vocab.index("<s>"),),
        (vocab.index("</s>"),),
        vocab.index("<pad>"),
    )


def test_space_mark_on_word_starts_except_at_document_offset_zero(files) -> None:  # type: ignore[no-untyped-def]
    vocab = files[0]
    tok = _tok(files)
    first = tok.encode_words("dose dose")
    pieces = [vocab[i] for i in first.ids]
    # the same word: no Ġ at offset 0, Ġ put in front of the first merged piece later
    assert pieces == ["d", "ose", "Ġd", "ose"]
    assert first.word_ids == [0, 0, 1, 1]
    assert first.offsets == [(0, 1), (1, 4), (5, 6), (6, 9)]
    # Hugging Face merges "Ġdose" as a whole: Spark NLP adds Ġ only after the merges
    hf = tok.huggingface().encode("dose dose", add_special_tokens=False)
    assert hf.tokens == ["d", "ose", "Ġdose"]


def test_only_the_first_regex_chunk_of_a_token_is_encoded(files) -> None:  # type: ignore[no-untyped-def]
    vocab = files[0]
    tok = _tok(files)
    text = "x 1955dose"
    assert [text[2 + b : 2 + e] for b, e in gpt2_chunks("1955dose")] == ["1955", "dose"]
    got = tok.encode_tokens(text, [(0, 1), (2, 10)])  # one Spark NLP token "1955dose"
    assert [vocab[i] for i in got.ids] == ["x", "Ġ1955"]
    assert got.word_ids == [0, 1]
    assert "ose" in tok.huggingface().encode(text).tokens


def test_sentence_mode_marks_every_chunk_and_cuts_pieces(files) -> None:  # type: ignore[no-untyped-def]
    vocab = files[0]
    tok = _tok(files, "RoBertaSentenceEmbeddings")
    text = "Zürich, 1955!"
    spark = [vocab[i] for i in tok.encode_sentence(text, 128).ids]
    hf = tok.huggingface().encode(text, add_special_tokens=False).tokens
    # "," and "!" follow a word without a space: Hugging Face keeps them bare, Spark NLP
    # looks up "Ġ," / "Ġ!" (missing here: <unk>)
    assert hf == ["ZÃ¼rich", ",", "Ġ1955", "!"]
    assert spark == ["ZÃ¼rich", "<unk>", "Ġ1955", "<unk>"]
    assert tok.encode_sentence(text, 4).ids == tok.encode_sentence(text, 128).ids[:2]


def test_lowercasing_when_not_case_sensitive(files) -> None:  # type: ignore[no-untyped-def]
    tok = _tok(files, cased=False)
    assert tok.encode_words("DOSE Dose").ids == tok.encode_words("dose dose").ids
    assert _tok(files).encode_words("DOSE").ids != tok.encode_words("DOSE").ids


def test_gpt2_chunks_follow_the_byte_level_pre_tokenizer_on_ascii() -> None:
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    for text in ["I'm here, don't  go!\n\tok  ", "a1b2 c--d   e", "x's 're 'll"]:
        expected = [(b, e) for _, (b, e) in pre.pre_tokenize_str(text)]
        assert gpt2_chunks(text) == expected, text


def test_a_vocabulary_without_specials_is_refused(files) -> None:  # type: ignore[no-untyped-def]
    vocab, merges = files
    broken = [v for v in vocab if v != "<pad>"]
    with pytest.raises(ArtifactFormatError, match="lacks <pad>"):
        _tok((broken, merges))
    with pytest.raises(ArtifactFormatError, match="needs fields/vocabulary and fields/merges"):
        make_tokenizer(
            family_for("RoBertaEmbeddings"), vocabulary=vocab, case_sensitive=True, max_length=8
        )


def test_piece_spans_are_characters_not_bytes(files) -> None:  # type: ignore[no-untyped-def]
    tok = _tok(files)
    text = "x Zürich"
    got = tok.encode_words(text)
    assert got.offsets[0] == (0, 1)
    spans = [s for s, w in zip(got.offsets, got.word_ids, strict=True) if w == 1]
    assert spans[0][0] == 2 and spans[-1][1] == len(text)  # ü is 2 bytes, 1 character
    assert all(b <= e for b, e in spans)
