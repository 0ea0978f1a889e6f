"""Engines: what computes a model's hidden states.

An engine is a factory that turns a Hugging Face directory into an
:class:`~modelhub.loaders.model.Encoder` (the seam documented in
:mod:`modelhub.loaders.model`: ``encoder(input_ids, attention_mask,
token_type_ids) -> float32 [batch, seq, hidden]``). Models choose one at load
time with ``engine=``:

- ``"torch"``: transformers' ``AutoModel`` run eagerly by torch, on any device,
  in float32 (or bf16/fp16 autocast when ``dtype`` asks for it);
- ``"auto"`` (the default): the best engine that is installed and gives the same
  vectors; today that is ``"torch"``.

Adding an engine: put a factory ``(hf, *, device, dtype, num_threads) ->
Encoder`` into :data:`ENGINES` (and, if it should be picked by ``"auto"``, into
:func:`_auto`). ``device`` and ``dtype`` arrive as given by the caller
(``"auto"`` included), checked by :func:`modelhub.loaders.runtime.check_device`
/ :func:`~modelhub.loaders.runtime.check_dtype`. No torch import here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelhub.errors import OptionError

if TYPE_CHECKING:
    from modelhub.loaders.hf import HFDirectory
    from modelhub.loaders.model import Encoder

EngineFactory = Callable[..., "Encoder"]


def _torch(
    hf: HFDirectory, *, device: Any = "auto", dtype: Any = "auto", num_threads: int | None = None
) -> Encoder:
    from modelhub.loaders.torch_engine import TorchEncoder

    return TorchEncoder.load(hf, device=device, dtype=dtype, num_threads=num_threads)


#: engine name -> factory; ``"auto"`` is not a key (see :func:`make_encoder`).
ENGINES: dict[str, EngineFactory] = {"torch": _torch}


def engine_names() -> tuple[str, ...]:
    """What ``engine=`` accepts: ``"auto"`` and every key of :data:`ENGINES`."""
    return ("auto", *ENGINES)


def check_engine(engine: Any) -> str:
    name = "auto" if engine is None else str(engine).lower()
    if name not in engine_names():
        accepted = ", ".join(repr(n) for n in engine_names())
        raise OptionError(f"engine={engine!r}: use {accepted}")
    return name


def _auto(hf: HFDirectory, **options: Any) -> Encoder:
    return ENGINES["torch"](hf, **options)


def make_encoder(
    engine: Any,
    hf: HFDirectory,
    *,
    device: Any = "auto",
    dtype: Any = "auto",
    num_threads: int | None = None,
) -> Encoder:
    """The encoder of ``hf`` for ``engine`` (``"auto"``, ``"torch"``, ...)."""
    name = check_engine(engine)
    factory = _auto if name == "auto" else ENGINES[name]
    return factory(hf, device=device, dtype=dtype, num_threads=num_threads)


__all__ = ["ENGINES", "EngineFactory", "check_engine", "engine_names", "make_encoder"]
