"""Tokenizer files from the real producers, made once per session in a temporary folder:
a WordPiece vocabulary from the ``tokenizers`` trainer and one SentencePiece model per
family from the ``sentencepiece`` trainer (special pieces at the ids each family's upstream
model has), all trained on one small text. Training takes well under a second."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

_TEXT = (
    "the patient was given a dose of aspirin and felt better after resting at home "
    "doctors nurses hospital treatment cancer heart blood pressure test result normal "
    "Café naïve résumé Zürich façade Ñandú élève don't it's can't e-mail U.S. "
    "1955 2024 42 3.14 東京 大阪 😀 hello world token piece model embed sentence"
)
WORDS = _TEXT.split(" ")

# spm trainer flags per family: the special pieces at the ids the upstream models have.
SPM_FAMILIES: dict[str, dict[str, object]] = {
    # fairseq sentencepiece.bpe.model of XLM-R and CamemBERT: <unk> <s> </s>, no <pad>
    "xlmroberta": {},
    "camembert": {},
    # DeBERTa-v3 spm.model: [PAD]=0 [CLS]=1 [SEP]=2 [UNK]=3, [MASK] user-defined
    "deberta": {
        "pad_id": 0, "bos_id": 1, "eos_id": 2, "unk_id": 3,
        "pad_piece": "[PAD]", "bos_piece": "[CLS]", "eos_piece": "[SEP]", "unk_piece": "[UNK]",
        "user_defined_symbols": ["[MASK]"],
    },
    # ALBERT spiece.model: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4
    "albert": {
        "pad_id": 0, "unk_id": 1, "bos_id": -1, "eos_id": -1,
        "control_symbols": ["[CLS]", "[SEP]", "[MASK]"],
    },
    # XLNet spiece.model: <unk>=0 <s>=1 </s>=2 <cls>=3 <sep>=4 <pad>=5 <mask>=6 ...
    "xlnet": {"control_symbols": ["<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>"]},
    # T5 spiece.model (Instructor): <pad>=0 </s>=1 <unk>=2
    "instructor": {"pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1},
}  # fmt: skip


def corpus(lines: int = 300) -> list[str]:
    rng = random.Random(7)
    out = []
    for _ in range(lines):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 10))]
        out.append(" ".join(words) + rng.choice([".", "!", "?", ",", ""]))
    return out


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sentencepiece as spm
    from tokenizers import BertWordPieceTokenizer

    root = tmp_path_factory.mktemp("tokenizer-files")
    text = corpus()
    (root / "corpus.txt").write_text("\n".join(text) + "\n", encoding="utf-8")
    wp = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wp.train_from_iterator(text, vocab_size=220, min_frequency=1)
    (root / "wordpiece").mkdir()
    wp.save_model(str(root / "wordpiece"))  # vocab.txt
    # MPNet's vocabulary: <s> <pad> </s> <unk> first, then BERT's [UNK] (all-mpnet-base-v2)
    mp = BertWordPieceTokenizer(lowercase=True)
    mp.train_from_iterator(
        text, vocab_size=200, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>"]
    )
    (root / "mpnet").mkdir()
    mp.save_model(str(root / "mpnet"))
    for name, flags in SPM_FAMILIES.items():
        spm.SentencePieceTrainer.train(
            input=str(root / "corpus.txt"),
            model_prefix=str(root / name),
            vocab_size=100,
            model_type="unigram",
            character_coverage=1.0,
            minloglevel=2,
            **flags,
        )
    return root


@pytest.fixture(scope="session")
def vocab(trained: Path) -> list[str]:
    return (trained / "wordpiece" / "vocab.txt").read_text(encoding="utf-8").splitlines()


def spp_bytes(trained: Path, name: str) -> bytes:
    return (trained / f"{name}.model").read_bytes()
