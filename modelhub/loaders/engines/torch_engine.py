"""The ``torch`` engine: a transformers ``AutoModel`` behind the
:class:`~modelhub.loaders.model.Encoder` seam (numpy ids in, float32 numpy
hidden states out). Imported only when a model loads with it."""

from __future__ import annotations

import contextlib
import inspect
import pickle
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.hf import ENCODER_ONLY, HFDirectory
from modelhub.loaders.runtime import resolve_device, resolve_dtype


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Library code does not draw progress bars on the user's terminal."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def load_torch_model(hf: HFDirectory, device: torch.device) -> torch.nn.Module:
    import transformers

    # T5's AutoModel is the encoder-decoder, which needs decoder inputs; an
    # embedding model runs its encoder stack only.
    auto = transformers.T5EncoderModel if hf.model_type in ENCODER_ONLY else transformers.AutoModel
    with _quiet_transformers():
        try:
            model = auto.from_pretrained(
                str(hf.root),
                trust_remote_code=False,  # never run code shipped with a model
                local_files_only=True,
                use_safetensors=hf.safetensors,
                weights_only=True,  # a pickle may only hold tensors
                dtype=torch.float32,
            )
        except (OSError, ValueError, RuntimeError, KeyError, pickle.UnpicklingError) as exc:
            raise ArtifactFormatError(
                f"{hf.root}: transformers could not load {hf.weights.name} ({exc})"
            ) from exc
    model.eval()
    if device.type != "cpu":
        model.to(device)
    return model


class TorchEncoder:
    """``module`` (a transformers encoder) run under ``inference_mode``, with
    autocast when ``compute`` is not float32."""

    name = "torch"

    def __init__(
        self,
        module: Any,
        *,
        device: torch.device,
        compute: torch.dtype = torch.float32,
        uses_token_types: bool | None = None,
    ) -> None:
        self.module = module
        self.torch_device = device
        self.compute = compute
        if uses_token_types is None:
            config = getattr(module, "config", None)
            uses_token_types = (
                "token_type_ids" in inspect.signature(module.forward).parameters
                and int(getattr(config, "type_vocab_size", 0) or 0) > 0
            )
        self.uses_token_types = uses_token_types

    @property
    def device(self) -> str:
        return str(self.torch_device)

    @property
    def dtype(self) -> str:
        return str(self.compute).removeprefix("torch.")

    @classmethod
    def load(
        cls,
        hf: HFDirectory,
        *,
        device: Any = "auto",
        dtype: Any = "auto",
        num_threads: int | None = None,
    ) -> TorchEncoder:
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        dev = resolve_device(device)
        compute = resolve_dtype(dtype, dev)
        return cls(load_torch_model(hf, dev), device=dev, compute=compute)

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        dev = self.torch_device
        inputs = {
            "input_ids": torch.from_numpy(input_ids).to(dev),
            "attention_mask": torch.from_numpy(attention_mask).to(dev),
        }
        if self.uses_token_types:
            types = np.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            inputs["token_type_ids"] = torch.from_numpy(types).to(dev)
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if self.compute != torch.float32:
                stack.enter_context(torch.autocast(device_type=dev.type, dtype=self.compute))
            hidden = self.module(**inputs).last_hidden_state
        return hidden.float().cpu().numpy()
