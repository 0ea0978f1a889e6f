"""`modelhub.pretrained` and `BertEmbeddings.pretrained` on local directories,
and the layering rule: registry and loaders never import each other."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import modelhub
from modelhub.errors import NoLoaderError
from modelhub.loaders import BertEmbeddings, TokenEmbeddings, load_path

ROOT = Path(__file__).resolve().parents[2] / "modelhub"


def test_pretrained_on_a_local_directory(tiny_bert: Path) -> None:
    model = modelhub.pretrained(tiny_bert, dtype="float32", batch_size=2, max_length=16)
    assert model.max_length == 16 and model.batch_size == 2
    [r] = model.embed(["I hate cancer"])
    assert isinstance(r, TokenEmbeddings) and r.tokens == ["I", "hate", "cancer"]
    same = modelhub.pretrained(str(tiny_bert), dtype="float32")  # an absolute path string
    assert np.array_equal(same.embed(["I hate cancer"])[0].vectors, r.vectors)


def test_bert_embeddings_pretrained_mirrors_the_cards_api(tiny_bert: Path) -> None:
    model = BertEmbeddings.pretrained(tiny_bert, "en", dtype="float32")
    assert model.embed(["I hate cancer"])[0].vectors.shape == (3, 32)


def test_pretrained_forced_loader_and_no_loader(tiny_bert: Path, tmp_path: Path) -> None:
    assert modelhub.pretrained(tiny_bert, loader="bert").dim == 32
    with pytest.raises(NoLoaderError, match="no installed loader accepts"):
        modelhub.pretrained(tmp_path)


def test_unknown_loader_option_is_a_type_error(tiny_bert: Path) -> None:
    with pytest.raises(TypeError):
        modelhub.pretrained(tiny_bert, colour="blue")


@pytest.fixture
def fake_cpuinfo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[set[str]], None]]:
    """``fake_cpuinfo({"avx512f"})``: runtime reads these flags as /proc/cpuinfo's; its
    caches are cleared before each use and after the test."""
    from modelhub.loaders import runtime

    def use(flags: set[str]) -> None:
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {' '.join(sorted(flags))}\n")
        monkeypatch.setattr(
            runtime, "Path", lambda path: info if str(path) == "/proc/cpuinfo" else Path(path)
        )
        runtime.cpu_flags.cache_clear()
        runtime.cpu_has_native_bf16.cache_clear()

    yield use
    runtime.cpu_flags.cache_clear()
    runtime.cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx512f", "avx512_bf16"}, "float32"),
        ({"amx_bf16", "amx_tile"}, "float32"),
        ({"avx512f"}, "float32"),
        ({"avx2"}, "float32"),
    ],
)
def test_auto_dtype_on_cpu_is_float32_whatever_the_cpu_flags(
    fake_cpuinfo: Callable[[set[str]], None], flags: set[str], expected: str
) -> None:
    import torch

    from modelhub.loaders.runtime import cpu_flags, resolve_dtype

    fake_cpuinfo(flags)
    assert flags <= cpu_flags()
    assert resolve_dtype("auto", torch.device("cpu")) == getattr(torch, expected)
    assert resolve_dtype(None, torch.device("cpu")) == getattr(torch, expected)
    assert resolve_dtype("fp32", torch.device("cpu")) == torch.float32  # explicit wins


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_device_and_dtype_on_cuda(
    monkeypatch: pytest.MonkeyPatch,
    fake_cpuinfo: Callable[[set[str]], None],
    bf16: bool,
    expected: str,
) -> None:
    import torch

    from modelhub.loaders.runtime import resolve_device, resolve_dtype

    fake_cpuinfo({"avx512_bf16"})  # the CPU's flags do not decide for a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    dev = resolve_device("auto")
    assert dev.type == "cuda"
    assert resolve_dtype("auto", dev) == getattr(torch, expected)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")


def test_device_and_dtype_choice(tiny_bert: Path) -> None:
    import torch

    from modelhub.loaders.runtime import resolve_dtype

    cpu = torch.device("cpu")
    assert resolve_dtype("fp32", cpu) == torch.float32
    assert resolve_dtype(torch.bfloat16, cpu) == torch.bfloat16
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int8", cpu)
    model = load_path(tiny_bert)
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_path(tiny_bert, device="cuda")


def _imports(package: Path) -> set[str]:
    found: set[str] = set()
    for py in package.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
    return found


def test_registry_and_loaders_never_import_each_other() -> None:
    assert not {m for m in _imports(ROOT / "loaders") if m.startswith("modelhub.registry")}
    assert not {m for m in _imports(ROOT / "registry") if m.startswith("modelhub.loaders")}
