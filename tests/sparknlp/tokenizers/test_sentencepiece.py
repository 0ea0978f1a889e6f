"""SentencePiece zips (XLM-R, CamemBERT, DeBERTa, ALBERT, XLNet, Instructor), models trained
by the ``sentencepiece`` trainer with each family's special pieces: the Hugging Face rebuild
equals the transformers class on the same file, and Spark NLP's rules (id offsets, the bare
``▁`` filter, special-id lookups, lowercasing, templates, truncation) are reproduced."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import family_for
from modelhub.loaders.sparknlp.tokenizers import make_tokenizer

from .conftest import spp_bytes

TEXTS = [
    "The patient was given a dose of aspirin.",
    "Café naïve résumé in Zürich, 1955!",
    "don't stop: it's e-mail 東京 😀",
    "  leading and  double  spaces ",
    "Hello (world) ``quoted''",
]
FAMILIES = {
    # spm model: (annotator, transformers class, file name the class reads)
    "xlmroberta": ("XlmRoBertaEmbeddings", "XLMRobertaTokenizerFast", "sentencepiece.bpe.model"),
    "camembert": ("CamemBertEmbeddings", "CamembertTokenizerFast", "sentencepiece.bpe.model"),
    "deberta": ("DeBertaEmbeddings", "DebertaV2TokenizerFast", "spm.model"),
    "albert": ("AlbertEmbeddings", "AlbertTokenizerFast", "spiece.model"),
    "xlnet": ("XlnetEmbeddings", "XLNetTokenizerFast", "spiece.model"),
    "instructor": ("InstructorEmbeddings", "T5TokenizerFast", "spiece.model"),
}


def _tok(trained: Path, name: str, *, cased: bool = True, max_length: int = 128):  # type: ignore[no-untyped-def]
    family = family_for(FAMILIES[name][0])
    return make_tokenizer(
        family, spp=spp_bytes(trained, name), case_sensitive=cased, max_length=max_length
    )


def _sp(trained: Path, name: str):  # type: ignore[no-untyped-def]
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(trained / f"{name}.model"))


@pytest.mark.parametrize("name", list(FAMILIES))
def test_huggingface_equals_the_transformers_class(
    trained: Path, tmp_path: Path, name: str
) -> None:
    import transformers

    _, cls_name, file_name = FAMILIES[name]
    shutil.copy(trained / f"{name}.model", tmp_path / file_name)
    reference = getattr(transformers, cls_name).from_pretrained(str(tmp_path))
    ours = _tok(trained, name).huggingface()
    for text in TEXTS:
        assert ours.encode(text).ids == reference(text)["input_ids"], text


def test_xlm_roberta_adds_one_drops_bare_marker_and_unk_becomes_pad(trained: Path) -> None:
    sp = _sp(trained, "xlmroberta")
    tok = _tok(trained, "xlmroberta")
    assert (tok.prefix, tok.suffix, tok.pad_id) == ((0,), (2,), 1)
    raw = sp.encode("Hello")
    assert sp.id_to_piece(raw[0]) == "▁" and raw[1] == sp.unk_id() == 0  # "▁", "H" unknown
    got = tok.encode_words("Hello")
    assert got.ids == [i + 1 for i in raw[1:]]  # bare ▁ dropped, ids + 1, <unk> -> 1
    assert got.ids[0] == 1
    hf = tok.huggingface().encode("Hello", add_special_tokens=False)
    assert hf.ids[1] == 3  # Hugging Face maps <unk> to 3 and keeps the ▁
    assert got.offsets[0] == (0, 5) and got.offsets[1:] == [(5, 5)] * (len(got.ids) - 1)


def test_camembert_offsets_twice_and_keeps_the_bare_marker(trained: Path) -> None:
    sp = _sp(trained, "camembert")
    tok = _tok(trained, "camembert")
    bare = sp.piece_to_id("▁")
    assert sp.piece_to_id("<pad>") == sp.unk_id() == 0  # fairseq's spm has no <pad>
    assert (tok.prefix, tok.suffix, tok.pad_id) == ((1 + 4,), (2 + 4,), 0 + 4)
    got = tok.encode_words("Hello")
    assert got.ids == [i + 4 for i in sp.encode("Hello")]
    assert got.ids[0] == bare + 4  # the bare ▁ is kept
    # what is dropped instead: the piece whose spm id is pieceToId("▁") + 4
    victim = sp.id_to_piece(bare + 4)
    word = victim.lstrip("▁")
    assert sp.encode(word) == [bare + 4]
    assert tok.encode_words(f"a {word}").word_ids == [0] * len(tok.encode_words("a").ids)


@pytest.mark.parametrize(
    ("name", "specials"),
    [("deberta", ("[CLS]", "[SEP]", "[PAD]")), ("xlnet", ("<cls>", "<sep>", "<pad>"))],
)
def test_special_ids_are_looked_up_in_the_model(
    trained: Path, name: str, specials: tuple[str, str, str]
) -> None:
    sp = _sp(trained, name)
    tok = _tok(trained, name)
    start, end, pad = (sp.piece_to_id(s) for s in specials)
    assert sp.unk_id() not in (start, end, pad)
    assert (tok.prefix, tok.suffix, tok.pad_id) == ((start,), (end,), pad)
    got = tok.encode_words("Hello")
    assert got.ids == [i for i in sp.encode("Hello") if i != sp.piece_to_id("▁")]


def test_xlnet_puts_cls_first_where_hugging_face_puts_it_last(trained: Path) -> None:
    tok = _tok(trained, "xlnet")
    hf = tok.huggingface().encode("the patient")
    pieces = hf.ids[:-2]
    assert hf.ids[-2:] == [*tok.suffix, *tok.prefix]  # HF: A <sep> <cls>
    assert [*tok.prefix, *tok.encode_sentence("the patient", 128).ids, *tok.suffix] == [
        *tok.prefix,
        *pieces,
        *tok.suffix,
    ]


def test_albert_pads_with_the_lower_case_pad_lookup_and_lowercases(trained: Path) -> None:
    sp = _sp(trained, "albert")
    tok = _tok(trained, "albert", cased=False)
    assert sp.piece_to_id("[pad]") == sp.unk_id() == 1  # ALBERT's spm has <pad>, not [pad]
    assert (tok.prefix, tok.suffix, tok.pad_id) == ((2,), (3,), 1)
    assert tok.encode_words("Hello World").ids == tok.encode_words("hello world").ids
    cased = _tok(trained, "albert", cased=True)
    assert cased.encode_words("Hello").ids != cased.encode_words("hello").ids


def test_instructor_encodes_instruction_and_text_whole_with_eos(trained: Path) -> None:
    sp = _sp(trained, "instructor")
    tok = _tok(trained, "instructor")
    assert (tok.prefix, tok.suffix, tok.pad_id) == ((), (1,), 0)
    text = "Represent the sentence: " + "the patient was given a dose of aspirin"
    full = sp.encode(text)
    assert tok.encode_sentence(text, 512).ids == full
    assert tok.encode_sentence(text, 6).ids == full[:5]  # take(maxLen - 1) ++ [EOS]
    assert tok.piece_count("Represent the sentence: ") == len(sp.encode("Represent the sentence: "))


def test_sentence_text_is_cut_to_max_length_characters_first(trained: Path) -> None:
    sp = _sp(trained, "xlmroberta")
    tok = _tok(trained, "xlmroberta")
    text = "the patient was given a dose"
    bare = sp.piece_to_id("▁")
    expected = [i + 1 for i in sp.encode(text[:12]) if i != bare]
    assert tok.encode_sentence(text, 12).ids == expected[:10]
    assert len(tok.encode_sentence(text, 12).ids) < len(tok.encode_sentence(text, 128).ids)


def test_word_level_truncation_keeps_max_length_minus_two(trained: Path) -> None:
    tok = _tok(trained, "deberta", max_length=5)
    full = tok.encode_words("the patient was given a dose")
    cut = tok.encode_words("the patient was given a dose", truncate=True)
    assert cut.ids == full.ids[:3]
    assert max(w for w in cut.word_ids if w is not None) <= 2  # tokens take(maxLen - 2)


def test_missing_or_broken_spp_is_refused() -> None:
    family = family_for("AlbertEmbeddings")
    with pytest.raises(ArtifactFormatError, match=r"needs the \*_spp file"):
        make_tokenizer(family, case_sensitive=False, max_length=8)
    with pytest.raises(ArtifactFormatError, match="not a serialized SentencePiece"):
        make_tokenizer(family, spp=b"\x0a\xff\xffnot a model", case_sensitive=False, max_length=8)
