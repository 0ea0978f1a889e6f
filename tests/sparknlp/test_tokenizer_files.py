"""Tokenizer files of Spark NLP zips, read without a JVM: the byte-level BPE vocabulary and
the pair-keyed merges map written by the JVM (tests/fixtures/sparknlp/generate_tokenizers.py),
and the raw SentencePiece model (``*_spp``) from the sentencepiece trainer."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.sparkml import read_merges, read_metadata, read_vocabulary
from modelhub.loaders.sparknlp.spm import read_sentencepiece

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sparknlp"
BPE_REF = FIXTURES / "tokenizers" / "bpe"
SPP = FIXTURES / "tokenizers" / "spm" / "xlmroberta_spp"
TEXTS = [
    "The patient was given a dose of aspirin.",
    "Café naïve résumé in Zürich, 1955!",
    "don't stop: it's e-mail 東京 😀",
    "  leading and  double  spaces ",
    "",
]


@pytest.fixture
def roberta(tmp_path: Path) -> Path:
    with zipfile.ZipFile(FIXTURES / "roberta_bpe_fields.zip") as zf:
        zf.extractall(tmp_path / "roberta")
    return tmp_path / "roberta"


def _hf_merges() -> list[tuple[str, str]]:
    lines = (BPE_REF / "merges.txt").read_text(encoding="utf-8").splitlines()
    return [(a, b) for a, b in (line.split(" ") for line in lines if line)]


def test_vocabulary_and_merges_read_back_as_the_trainer_wrote_them(roberta: Path) -> None:
    assert read_metadata(roberta).simple_name == "RoBertaEmbeddings"
    vocab = json.loads((BPE_REF / "vocab.json").read_text(encoding="utf-8"))
    assert read_vocabulary(roberta) == list(vocab)
    merges = read_merges(roberta)
    # Spark NLP ranks the "#version: 0.2" header too: rank 0, the real merges after it.
    assert merges[0] == ("#version:", "0.2")
    assert merges == _hf_merges()
    assert len(merges) > 100


def test_the_merges_rebuild_the_trained_tokenizer(roberta: Path) -> None:
    from tokenizers import ByteLevelBPETokenizer, Tokenizer, decoders, models, pre_tokenizers

    vocab = {piece: i for i, piece in enumerate(read_vocabulary(roberta))}
    merges = [m for m in read_merges(roberta) if m[0] in vocab and m[1] in vocab]
    ours = Tokenizer(models.BPE(vocab, merges))
    ours.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    ours.decoder = decoders.ByteLevel()
    trained = ByteLevelBPETokenizer(str(BPE_REF / "vocab.json"), str(BPE_REF / "merges.txt"))
    for text in TEXTS:
        expected = trained.encode(text)
        got = ours.encode(text)
        assert got.ids == expected.ids, text
        assert got.tokens == expected.tokens
        assert ours.decode(got.ids) == text
    # Merges were applied (not just bytes): fewer pieces than bytes.
    assert sum(len(ours.encode(t).ids) for t in TEXTS) < 0.6 * sum(len(t.encode()) for t in TEXTS)


def test_a_vocabulary_batch_in_the_merges_folder_is_refused(roberta: Path) -> None:
    merges = roberta / "fields" / "merges"
    for part in merges.glob("part-*"):
        part.unlink()
    shutil.copy(roberta / "fields" / "vocabulary" / "part-00000", merges / "part-00000")
    with pytest.raises(
        ArtifactFormatError,
        match=r"merges/part-00000 \(record 0\): expected scala\.Tuple2\(scala\.Tuple2\(String, "
        r"String\), java\.lang\.Integer\) elements, found scala\.Tuple2",
    ):
        read_merges(roberta)


def test_shared_and_missing_ranks_are_refused(roberta: Path) -> None:
    merges = roberta / "fields" / "merges"
    shutil.copy(merges / "part-00000", merges / "part-00002")
    with pytest.raises(ArtifactFormatError, match=r"fields/merges: merges .* share rank \d+"):
        read_merges(roberta)
    (merges / "part-00002").unlink()
    (merges / "part-00001").unlink()
    with pytest.raises(ArtifactFormatError, match=r"merge ranks are not 0\.\.\d+: missing"):
        read_merges(roberta)
    shutil.rmtree(merges)
    with pytest.raises(ArtifactFormatError, match=r"missing merges: expected Spark object files"):
        read_merges(roberta)


def test_sentencepiece_model_is_found_by_suffix_and_loaded(tmp_path: Path) -> None:
    import sentencepiece

    folder = tmp_path / "xlmr"
    folder.mkdir()
    shutil.copy(SPP, folder / "XlmRoBerta_SPP")  # any case, as engine files
    ours = read_sentencepiece(folder)
    reference = sentencepiece.SentencePieceProcessor(model_file=str(SPP))
    assert ours.GetPieceSize() == reference.GetPieceSize() == 120
    assert (ours.unk_id(), ours.bos_id(), ours.eos_id()) == (0, 1, 2)
    for text in TEXTS:
        assert ours.encode(text) == reference.encode(text)
        assert ours.encode(text, out_type=str) == reference.encode(text, out_type=str)


def test_sentencepiece_errors_name_the_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(ArtifactFormatError, match=r"no SentencePiece model \(\*_spp\)"):
        read_sentencepiece(tmp_path)
    bad = tmp_path / "camembert_spp"
    bad.write_bytes(b"\x0a\xff\xff\xff\xff\x0fnot a model proto")
    with pytest.raises(ArtifactFormatError, match=r"camembert_spp: not a serialized SentencePiece"):
        read_sentencepiece(tmp_path)
    bad.write_bytes(b"")
    with pytest.raises(
        ArtifactFormatError, match=r"camembert_spp: the SentencePiece model file is empty"
    ):
        read_sentencepiece(tmp_path)
