"""Defaults that give the same vectors on every machine (float32 on any CPU), typed errors
for bad device/dtype/engine values, the typed ``pretrained()``, and the engine seam."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelhub
from modelhub.errors import ConfigError, ModelhubError, OptionError
from modelhub.loaders import EmbeddingModel, engines, load_path
from modelhub.loaders.runtime import check_device, check_dtype


def test_default_is_float32_exact_on_this_cpu(tiny_bert: Path) -> None:
    """Whatever the CPU (this one may have AVX512-BF16/AMX): no autocast by default."""
    import torch

    default = load_path(tiny_bert, device="cpu")
    assert default.dtype == torch.float32
    assert default.describe()["dtype"] == "float32"
    exact = load_path(tiny_bert, device="cpu", dtype="float32")
    texts = ["I hate cancer", "heart attack and aspirin"]
    assert np.array_equal(default.encode(texts), exact.encode(texts))
    bf16 = load_path(tiny_bert, device="cpu", dtype="bf16")  # opt-in
    assert bf16.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("call", "value", "accepted"),
    [
        (check_dtype, "int4", "'float16' ('fp16', 'half')"),
        (check_dtype, "fp64", "'bfloat16' ('bf16')"),
        (check_device, "gpu", "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"),
        (check_device, "cuda:x", "'cuda:N'"),
        (engines.check_engine, "tensorrt", "'auto', 'torch'"),
    ],
)
def test_bad_values_are_typed_errors_listing_what_is_accepted(
    call: Any, value: str, accepted: str
) -> None:
    with pytest.raises(OptionError, match=f"{value!r}") as info:
        call(value)
    assert accepted in str(info.value)
    assert isinstance(info.value, ValueError | ConfigError | ModelhubError)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ConfigError)


def test_accepted_spellings() -> None:
    import torch

    assert [check_dtype(v) for v in ("auto", None, "FP16", "half", "bf16", "float")] == [
        "auto",
        "auto",
        "float16",
        "float16",
        "bfloat16",
        "float32",
    ]
    assert check_dtype(torch.bfloat16) == "bfloat16"
    assert [check_device(v) for v in ("auto", "CPU", "cuda:1", torch.device("cpu"))] == [
        "auto",
        "cpu",
        "cuda:1",
        "cpu",
    ]


def test_bad_options_fail_before_loading(tiny_bert: Path) -> None:
    with pytest.raises(OptionError, match="dtype='int4'"):
        modelhub.pretrained(tiny_bert, dtype="int4")
    with pytest.raises(OptionError, match="engine='fast'"):
        modelhub.pretrained(tiny_bert, engine="fast")
    with pytest.raises(OptionError, match="overflow"):
        modelhub.pretrained(tiny_bert, overflow="wrap")


def test_cuda_without_cuda_is_a_clear_typed_error(tiny_bert: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(OptionError, match="CUDA is not available here"):
        modelhub.pretrained(tiny_bert, device="cuda")


def test_pretrained_is_typed_as_the_model_interface(tiny_bert: Path) -> None:
    # the name is imported for type checkers only (import modelhub stays light)
    hints = typing.get_type_hints(modelhub.pretrained, localns={"EmbeddingModel": EmbeddingModel})
    assert hints["return"] is EmbeddingModel
    assert isinstance(modelhub.pretrained(tiny_bert), modelhub.EmbeddingModel)


def test_a_path_like_name_that_is_no_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"no directory \./missing-dir"):
        modelhub.pretrained("./missing-dir")
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    with pytest.raises(OptionError, match="is not a directory"):
        modelhub.pretrained(str(afile))


class _Counting:
    """An engine over the torch engine's encoder, counting calls: what a new engine
    (ONNX Runtime, ...) plugs in through ``engines.ENGINES``."""

    name = "counting"

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.device, self.dtype = inner.device, inner.dtype
        self.shapes: list[tuple[int, int]] = []

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray, token_type_ids=None):
        assert input_ids.dtype == np.int64 and attention_mask.dtype == np.int64
        assert input_ids.flags.c_contiguous and input_ids.shape == attention_mask.shape
        self.shapes.append(input_ids.shape)
        hidden = self.inner(input_ids, attention_mask, token_type_ids)
        assert hidden.dtype == np.float32 and hidden.shape[:2] == input_ids.shape
        return hidden


def test_an_engine_plugs_in_through_the_encoder_seam(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def factory(hf: Any, **options: Any) -> _Counting:
        return _Counting(engines.ENGINES["torch"](hf, **options))

    monkeypatch.setitem(engines.ENGINES, "counting", factory)
    assert engines.engine_names() == ("auto", "torch", "onnx", "openvino", "counting")
    model = load_path(tiny_bert, engine="counting")
    assert model.encoder.name == "counting" and model.describe()["engine"] == "counting"
    torch_model = load_path(tiny_bert, engine="torch")
    assert torch_model.encoder.name == "torch"
    texts = ["tax", "I hate cancer", "aspirin lowers the risk of myocardial infarction", "a"]
    got = model.encode(texts, batch_size=2)
    assert np.array_equal(got, torch_model.encode(texts, batch_size=2))
    # length-sorted batches: the longest texts first, little padding
    assert [s[0] for s in model.encoder.shapes] == [2, 2]
    assert model.encoder.shapes[0][1] >= model.encoder.shapes[1][1]
    tokens = model.embed(texts)
    assert [t.tokens for t in tokens] == [t.tokens for t in torch_model.embed(texts)]
