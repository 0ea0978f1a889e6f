"""The result type of ``model.embed``: word-level tokens with vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, eq=False)
class TokenEmbeddings:
    """One text's tokens (as in a card's Results table: ``I``, ``hate``,
    ``cancer``), their ``[begin, end)`` character offsets into the text, and
    one vector per token: ``vectors.shape == (len(tokens), dim)``."""

    tokens: list[str]
    offsets: list[tuple[int, int]]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.tokens) == len(self.offsets) == self.vectors.shape[0]):
            raise ValueError(
                f"{len(self.tokens)} tokens, {len(self.offsets)} offsets and "
                f"{self.vectors.shape[0]} vectors: they must match"
            )

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": list(self.tokens),
            "offsets": [list(o) for o in self.offsets],
            "vectors": self.vectors.tolist(),
        }
