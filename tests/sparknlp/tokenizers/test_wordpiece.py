"""WordPiece zips (BERT, DistilBERT, E5, BGE, MPNet, ...): Spark NLP's per-token rules and
the Hugging Face tokenizer rebuilt from the same vocabulary (trained by ``tokenizers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import family_for
from modelhub.loaders.sparknlp.tokenizers import make_tokenizer, spark_tokens

TEXTS = [
    "The patient was given a dose of aspirin.",
    "Café naïve résumé in Zürich, 1955!",
    "don't stop: it's e-mail 東京 😀",
    "  leading and  double  spaces ",
]


def _tok(
    vocab: list[str],
    annotator: str = "DistilBertEmbeddings",
    *,
    cased: bool = False,
    max_length: int = 128,
):  # type: ignore[no-untyped-def]
    return make_tokenizer(
        family_for(annotator), vocabulary=vocab, case_sensitive=cased, max_length=max_length
    )


@pytest.mark.parametrize(
    ("annotator", "cls_name"),
    [
        ("BertEmbeddings", "BertTokenizerFast"),
        ("DistilBertEmbeddings", "DistilBertTokenizerFast"),
        ("E5Embeddings", "BertTokenizerFast"),
        ("MPNetEmbeddings", "MPNetTokenizerFast"),
    ],
)
@pytest.mark.parametrize("cased", [False, True])
def test_huggingface_equals_the_transformers_class(
    trained: Path, vocab: list[str], annotator: str, cls_name: str, cased: bool
) -> None:
    import transformers

    cls = getattr(transformers, cls_name)
    kwargs = {"unk_token": "[UNK]"} if cls_name == "MPNetTokenizerFast" else {}
    folder = trained / ("mpnet" if annotator == "MPNetEmbeddings" else "wordpiece")
    words = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    reference = cls.from_pretrained(str(folder), do_lower_case=not cased, **kwargs)
    ours = _tok(words, annotator, cased=cased).huggingface()
    for text in TEXTS:
        assert ours.encode(text).ids == reference(text)["input_ids"], text


def test_prefix_suffix_pad_come_from_the_vocabulary(trained: Path, vocab: list[str]) -> None:
    tok = _tok(vocab)
    assert (tok.prefix, tok.suffix, tok.pad_id) == (
        (vocab.index("[CLS]"),),
        (vocab.index("[SEP]"),),
        0,
    )
    mpnet = (trained / "mpnet" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tok = _tok(mpnet, "MPNetEmbeddings")
    assert mpnet[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    # <s> and </s> around the pieces; batches are padded with 0, which is <s> in MPNet
    assert (tok.prefix, tok.suffix, tok.pad_id) == ((0,), (2,), 0)


def test_only_the_first_basic_sub_token_of_a_spark_token_is_encoded(vocab: list[str]) -> None:
    tok = _tok(vocab, cased=True)
    text = "a don't"
    spark = tok.encode_tokens(text, [(0, 1), (2, 7)])  # Spark NLP's Tokenizer keeps don't
    hf = tok.huggingface().encode(text, add_special_tokens=False)
    assert hf.tokens == ["a", "don", "'", "t"]
    assert [vocab[i] for i in spark.ids] == ["a", "don"]
    assert spark.word_ids == [0, 1]
    assert spark.offsets == [(0, 1), (2, 5)]


def test_accents_are_stripped_even_when_case_sensitive(vocab: list[str]) -> None:
    assert "Café" in vocab
    tok = _tok(vocab, cased=True)
    spark = tok.encode_words("Café")
    hf = tok.huggingface().encode("Café", add_special_tokens=False)
    assert hf.tokens == ["Café"]  # Hugging Face keeps accents when not lowercasing
    assert "".join(vocab[i].removeprefix("##") for i in spark.ids) == "Cafe"
    assert spark.offsets[0][0] == 0
    lower = _tok(vocab, cased=False).encode_words("CAFÉ")
    assert "".join(vocab[i].removeprefix("##") for i in lower.ids) == "cafe"


def test_inverted_question_mark_is_not_punctuation_for_spark_nlp(vocab: list[str]) -> None:
    from tokenizers import pre_tokenizers

    from modelhub.loaders.sparknlp.tokenizers.wordpiece import basic_tokenize

    # Spark NLP's rule is punctuation by Unicode *name*: "INVERTED QUESTION MARK" has none.
    assert basic_tokenize("¿Qué?", True) == [("¿Que", 0, 4), ("?", 4, 5)]
    assert basic_tokenize("¿Qué?", False) == [("¿que", 0, 4), ("?", 4, 5)]
    hf = [w for w, _ in pre_tokenizers.BertPreTokenizer().pre_tokenize_str("¿Qué?")]
    assert hf == ["¿", "Qué", "?"]
    tok = _tok(vocab, cased=True)
    # one word "¿Que" (no ¿ in the vocabulary: one [UNK]) and "?"
    assert tok.encode_sentence("¿Qué?", 128).ids == [vocab.index("[UNK]"), vocab.index("?")]


def test_words_follow_the_bert_loader_split_and_are_truncated_on_request(
    vocab: list[str],
) -> None:
    tok = _tok(vocab, max_length=6)
    text = "the patient was given a dose of aspirin."
    full = tok.encode_words(text)
    words = spark_tokens(text)
    assert len(set(full.word_ids)) == len(words)
    for w, (begin, _) in enumerate(words):  # each word's first piece starts at the word
        first = full.word_ids.index(w)
        assert full.offsets[first][0] == begin
    cut = tok.encode_words(text, truncate=True)
    assert cut.ids == full.ids[:4]  # max_length - [CLS] - [SEP]
    assert tok.encode_sentence(text, 6).ids == full.ids[:4]


def test_spark_tokens_match_the_bert_pre_tokenizer() -> None:
    from tokenizers import normalizers, pre_tokenizers

    norm = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    pre = pre_tokenizers.BertPreTokenizer()
    for text in [*TEXTS, "a\tb\nc", "x—y…z «q» 1,000.5"]:
        normalized = norm.normalize_str(text)
        assert len(normalized) >= len(text)
        expected = [w for w, _ in pre.pre_tokenize_str(normalized)]
        assert [text[b:e] for b, e in spark_tokens(text)] == expected, text


def test_a_vocabulary_without_unk_is_refused(vocab: list[str]) -> None:
    broken = [v for v in vocab if v != "[UNK]"]
    with pytest.raises(ArtifactFormatError, match=r"lacks \[UNK\]"):
        _tok(broken)
    with pytest.raises(ArtifactFormatError, match="needs fields/vocabulary"):
        make_tokenizer(family_for("BertEmbeddings"), case_sensitive=False, max_length=8)


def test_words_up_to_200_characters_are_split_where_hugging_face_gives_unk(
    vocab: list[str],
) -> None:
    assert "##a" in vocab and "a" in vocab
    tok = _tok(vocab)
    long_word = "a" * 150  # Spark NLP: maxInputCharsPerWord 200; Hugging Face: 100
    assert tok.huggingface().encode(long_word, add_special_tokens=False).tokens == ["[UNK]"]
    got = tok.encode_words(long_word)
    assert [vocab[i] for i in got.ids[:2]] == ["a", "##a"] and len(got.ids) > 1
    assert [vocab[i] for i in tok.encode_words("a" * 201).ids] == ["[UNK]"]
