"""The tokenizer of a Hugging Face directory, as the ``bert`` loader needs it:
a fast ``tokenizers`` tokenizer (word offsets need one) with no truncation or
padding (the loader cuts and pads itself), whether it lowercases, and
sentence-transformers' ``do_lower_case`` put in front of it."""

from __future__ import annotations

from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.hf import HFDirectory


def config_dim(config: dict[str, Any]) -> int | None:
    for key in ("hidden_size", "dim", "d_model"):
        if isinstance(config.get(key), int):
            return int(config[key])
    return None


def tokenizer_lowercases(hf: HFDirectory, tokenizer: Any | None) -> bool | None:
    """Whether the artifact's tokenizer lowercases: tokenizer_config.json's
    ``do_lower_case``, else its normalizer; ``None`` when it cannot tell."""
    value = hf.tokenizer_config.get("do_lower_case")
    if isinstance(value, bool):
        return value
    if tokenizer is None:
        return None
    text = repr(tokenizer.normalizer)
    return "lowercase=True" in text or "Lowercase" in text


def load_tokenizer(hf: HFDirectory) -> Any:
    from tokenizers import Tokenizer

    if hf.tokenizer_json is not None:
        try:
            tok = Tokenizer.from_file(str(hf.tokenizer_json))
        except Exception as exc:
            raise ArtifactFormatError(
                f"{hf.tokenizer_json}: not a tokenizers file ({exc})"
            ) from exc
    else:
        # Only a vocabulary: let transformers build the fast tokenizer from it.
        from transformers import AutoTokenizer

        slow_or_fast = AutoTokenizer.from_pretrained(
            str(hf.root), trust_remote_code=False, local_files_only=True
        )
        if not getattr(slow_or_fast, "is_fast", False):
            raise ArtifactFormatError(
                f"{hf.root}: no fast tokenizer could be built (word offsets need one)"
            )
        tok = slow_or_fast.backend_tokenizer
    tok.no_truncation()
    tok.no_padding()
    return tok


def lowercase_first(tok: Any) -> None:
    """sentence-transformers' ``do_lower_case``: a Lowercase normalizer in
    front of the tokenizer's own."""
    from tokenizers import normalizers

    current = tok.normalizer
    if current is not None and ("Lowercase" in repr(current) or "lowercase=True" in repr(current)):
        return
    steps = [normalizers.Lowercase()]
    if current is not None:
        steps.append(current)
    tok.normalizer = normalizers.Sequence(steps)
