"""Engines: what computes a model's hidden states.

An engine is a factory that turns a Hugging Face directory into an
:class:`~modelhub.loaders.model.Encoder` (the seam documented in
:mod:`modelhub.loaders.model`: ``encoder(input_ids, attention_mask,
token_type_ids) -> float32 [batch, seq, hidden]``). Models choose one at load
time with ``engine=``:

- ``"torch"``: transformers' ``AutoModel`` run eagerly by torch, on any device,
  in float32 (or bf16/fp16 autocast when ``dtype`` asks for it);
- ``"onnx"``: the directory exported once to ONNX and run by ONNX Runtime on
  the CPU in float32, or int8 with ``dtype="int8"`` (lossy, opt-in; also what
  ``"auto"`` runs for it) (:mod:`modelhub.loaders.engines.onnx_engine`); an
  :class:`~modelhub.errors.EngineUnavailable` when onnxruntime is missing or
  the export fails;
- ``"openvino"``: the directory converted once by OpenVINO's converter and run
  by the OpenVINO CPU runtime in float32
  (:mod:`modelhub.loaders.engines.openvino_engine`); an
  :class:`~modelhub.errors.EngineUnavailable` when openvino is missing or the
  conversion fails;
- ``"auto"`` (the default): on the CPU in float32, with a ``derived_dir`` to
  keep conversions in, the first engine of :data:`AUTO_ORDER` that is
  installed and whose conversion passed its self-check against torch;
  ``"torch"`` otherwise.

Adding an engine: put a factory ``(hf, *, device, dtype, num_threads,
derived_dir) -> Encoder`` into :data:`ENGINES` (and, if it should be picked by
``"auto"``, into :func:`_auto`). ``device`` and ``dtype`` arrive as given by the caller
(``"auto"`` included), checked by :func:`modelhub.loaders.runtime.check_device`
/ :func:`~modelhub.loaders.runtime.check_dtype`. No torch import here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelhub.errors import OptionError
from modelhub.loaders.runtime import check_device, check_dtype

if TYPE_CHECKING:
    from modelhub.loaders.hf import HFDirectory
    from modelhub.loaders.model import Encoder

EngineFactory = Callable[..., "Encoder"]


def _torch(
    hf: HFDirectory,
    *,
    device: Any = "auto",
    dtype: Any = "auto",
    num_threads: int | None = None,
    derived_dir: Path | None = None,  # torch derives nothing
) -> Encoder:
    from modelhub.loaders.engines.torch_engine import TorchEncoder

    return TorchEncoder.load(hf, device=device, dtype=dtype, num_threads=num_threads)


def _onnx(
    hf: HFDirectory,
    *,
    device: Any = "auto",
    dtype: Any = "auto",
    num_threads: int | None = None,
    derived_dir: Path | None = None,
) -> Encoder:
    from modelhub.loaders.engines.onnx_engine import onnx_encoder

    if check_device(device) not in ("auto", "cpu"):
        raise OptionError(f"engine='onnx' runs on the CPU, not device={device!r}")
    from modelhub.loaders.engines.onnx_export import ExportSettings

    compute = check_dtype(dtype)
    if compute not in ("auto", "float32", "int8"):
        raise OptionError(
            f"engine='onnx' computes in float32 or int8, not dtype={dtype!r}; use engine='torch'"
        )
    encoder = onnx_encoder(
        hf,
        engine="onnx",
        derived_dir=derived_dir,
        num_threads=num_threads,
        torch_model=lambda: _cpu_torch_model(hf),
        settings=ExportSettings(quantize="int8" if compute == "int8" else "none"),
    )
    assert encoder is not None  # engine="onnx" raises rather than giving None
    return encoder


def _openvino(
    hf: HFDirectory,
    *,
    device: Any = "auto",
    dtype: Any = "auto",
    num_threads: int | None = None,
    derived_dir: Path | None = None,
) -> Encoder:
    from modelhub.loaders.engines.openvino_engine import openvino_encoder

    if check_device(device) not in ("auto", "cpu"):
        raise OptionError(f"engine='openvino' runs on the CPU, not device={device!r}")
    if check_dtype(dtype) not in ("auto", "float32"):
        raise OptionError(
            f"engine='openvino' computes in float32, not dtype={dtype!r}; use engine='torch' "
            "(bf16, fp16) or engine='onnx' (int8)"
        )
    encoder = openvino_encoder(
        hf,
        engine="openvino",
        derived_dir=derived_dir,
        num_threads=num_threads,
        torch_model=lambda: _cpu_torch_model(hf),
    )
    assert encoder is not None  # engine="openvino" raises rather than giving None
    return encoder


def _cpu_torch_model(hf: HFDirectory) -> Any:
    import torch

    from modelhub.loaders.engines.torch_engine import load_torch_model

    return load_torch_model(hf, torch.device("cpu"))


#: engine name -> factory; ``"auto"`` is not a key (see :func:`make_encoder`).
ENGINES: dict[str, EngineFactory] = {"torch": _torch, "onnx": _onnx, "openvino": _openvino}
#: What ``"auto"`` tries on the CPU in float32, in order, before torch: each when its
#: package is installed and its conversion passed the self-check against torch.
#: OpenVINO first: the same float32 vectors, and less CPU time per batch than ONNX
#: Runtime's fused graph on the machines measured (``bench/embed.py``,
#: ``bench/openvino_modes.py``; README "The OpenVINO engine").
# ONNX Runtime first: its export is converted twice as fast as OpenVINO's (8 s vs 15 s for
# MiniLM) and it loads faster (about 210 vs 290-420 ms); OpenVINO used 9-19% less CPU
# time per text, which did not show in wall time on the 2-core machine measured.
AUTO_ORDER: tuple[str, ...] = ("onnx", "openvino")


def _candidates() -> list[tuple[str, Callable[..., Any]]]:
    from modelhub.loaders.engines.onnx_engine import onnx_encoder, onnxruntime_installed
    from modelhub.loaders.engines.openvino_engine import openvino_encoder, openvino_installed

    table = {
        "onnx": (onnxruntime_installed, onnx_encoder),
        "openvino": (openvino_installed, openvino_encoder),
    }
    return [(name, table[name][1]) for name in AUTO_ORDER if table[name][0]()]


def engine_names() -> tuple[str, ...]:
    """What ``engine=`` accepts: ``"auto"`` and every key of :data:`ENGINES`."""
    return ("auto", *ENGINES)


def check_engine(engine: Any) -> str:
    name = "auto" if engine is None else str(engine).lower()
    if name not in engine_names():
        accepted = ", ".join(repr(n) for n in engine_names())
        raise OptionError(f"engine={engine!r}: use {accepted}")
    return name


def _auto(
    hf: HFDirectory,
    *,
    device: Any = "auto",
    dtype: Any = "auto",
    num_threads: int | None = None,
    derived_dir: Path | None = None,
) -> Encoder:
    """OpenVINO or ONNX Runtime (:data:`AUTO_ORDER`) where they give the same float32
    vectors faster (the CPU), torch otherwise; see the module doc."""
    if check_dtype(dtype) == "int8":  # only ONNX Runtime computes in int8
        return _onnx(
            hf, device=device, dtype=dtype, num_threads=num_threads, derived_dir=derived_dir
        )
    if (
        derived_dir is not None
        and check_device(device) in ("auto", "cpu")
        and check_dtype(dtype) in ("auto", "float32")
    ):
        candidates = _candidates()
        from modelhub.loaders.runtime import resolve_device

        if candidates and resolve_device(device).type == "cpu":
            loaded: list[Any] = []  # the torch model of the self-checks, loaded once

            def torch_model() -> Any:
                if not loaded:
                    loaded.append(_cpu_torch_model(hf))
                return loaded[0]

            for _name, factory in candidates:
                encoder = factory(
                    hf,
                    engine="auto",
                    derived_dir=derived_dir,
                    num_threads=num_threads,
                    torch_model=torch_model,
                )
                if encoder is not None:
                    return encoder
            if loaded:  # the conversions failed their checks: run the model already loaded
                import torch

                from modelhub.loaders.engines.torch_engine import TorchEncoder

                if num_threads is not None:
                    torch.set_num_threads(num_threads)
                return TorchEncoder(loaded[0], device=torch.device("cpu"))
    return _torch(hf, device=device, dtype=dtype, num_threads=num_threads)


def make_encoder(
    engine: Any,
    hf: HFDirectory,
    *,
    device: Any = "auto",
    dtype: Any = "auto",
    num_threads: int | None = None,
    derived_dir: Path | None = None,
) -> Encoder:
    """The encoder of ``hf`` for ``engine`` (``"auto"``, ``"torch"``,
    ``"onnx"``, ``"openvino"``). ``derived_dir``: where an engine may keep what it derives
    from the model (the ONNX export), usually inside the cache entry."""
    name = check_engine(engine)
    factory = _auto if name == "auto" else ENGINES[name]
    return factory(hf, device=device, dtype=dtype, num_threads=num_threads, derived_dir=derived_dir)


__all__ = ["AUTO_ORDER", "ENGINES", "EngineFactory", "check_engine", "engine_names", "make_encoder"]
