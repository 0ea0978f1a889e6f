"""Cutting tokenized texts into model-sized sequences, length-sorted batches,
and putting windowed texts back together (no torch).

Texts are tokenized without special tokens; each becomes one sequence of at
most ``room`` content pieces (truncated), or several overlapping windows
(``overflow="window"``). Sequences are sorted by length and cut into batches
of at most ``batch_size`` rows and ``TOKENS_PER_BATCH`` padded tokens: short
texts go in big batches, long ones in small ones, and almost no compute is
spent on padding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from modelhub.errors import OptionError

log = logging.getLogger(__name__)

Overflow = Literal["truncate", "window"]
TOKENS_PER_BATCH = 4096


@dataclass(frozen=True, slots=True)
class Seq:
    text: int  # index of the text it comes from
    start: int  # first content piece it holds
    stop: int  # one past its last content piece
    last: bool = True  # the text's last sequence (progress counts texts)


def sequences(
    lengths: Sequence[int],
    room: int,
    overflow: Overflow,
    *,
    keep_empty: bool,
    stride: int | None,
    max_length: int,
) -> list[Seq]:
    """The sequences of texts with ``lengths`` content pieces each."""
    if room < 1:
        raise OptionError(f"max_length={max_length} leaves no room beside the special tokens")
    seqs: list[Seq] = []
    cut = 0
    for i, n in enumerate(lengths):
        if n == 0:
            if keep_empty:
                seqs.append(Seq(i, 0, 0))
        elif n <= room:
            seqs.append(Seq(i, 0, n))
        elif overflow == "truncate":
            cut += 1
            seqs.append(Seq(i, 0, room))
        else:
            overlap = stride if stride is not None else room // 4
            step = max(1, room - min(overlap, room - 1))
            start = 0
            while True:
                end = start + room >= n
                seqs.append(Seq(i, start, min(start + room, n), end))
                if end:
                    break
                start += step
    if cut:
        log.warning(
            "%d of %d texts are longer than max_length=%d word pieces and were truncated "
            "(overflow='window' embeds all of them; CLI: --overflow window)",
            cut,
            len(lengths),
            max_length,
        )
    return seqs


def batches(seqs: list[Seq], batch_size: int, extra: int) -> Iterator[list[int]]:
    """Indices into ``seqs``, longest first, in batches (``extra``: special
    tokens added to each row)."""
    order = sorted(range(len(seqs)), key=lambda k: seqs[k].stop - seqs[k].start, reverse=True)
    batch: list[int] = []
    width = 0
    for k in order:
        length = seqs[k].stop - seqs[k].start + extra
        width = max(width, length)
        if batch and (len(batch) >= batch_size or width * (len(batch) + 1) > TOKENS_PER_BATCH):
            yield batch
            batch, width = [], length
        batch.append(k)
    if batch:
        yield batch


def pieces(
    seqs: list[Seq],
    results: list[np.ndarray],
    mine: list[int],
    n_kept: int,
    dim: int,
    prefix: int,
    suffix: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The hidden states of one text's content pieces (``n_kept``, dim), each
    taken from the window (``mine``: its sequences, in order) where it has the
    most context; plus the first window's prefix and the last window's suffix
    states."""
    vecs = np.zeros((n_kept, dim), dtype=np.float32)
    best = np.full(n_kept, -1, dtype=np.int64)
    for k in mine:
        q = seqs[k]
        idx = np.arange(q.start, q.stop)
        score = np.minimum(idx - q.start, q.stop - 1 - idx)
        better = score > best[q.start : q.stop]
        vecs[idx[better]] = results[k][prefix : prefix + (q.stop - q.start)][better]
        best[q.start : q.stop] = np.maximum(best[q.start : q.stop], score)
    head = results[mine[0]][:prefix] if mine else None
    tail = results[mine[-1]][len(results[mine[-1]]) - suffix :] if mine and suffix else None
    return vecs, head, tail


def whole(
    seqs: list[Seq],
    results: list[np.ndarray],
    mine: list[int],
    dim: int,
    prefix: int,
    suffix: int,
) -> np.ndarray:
    """A windowed text's states as one sequence: prefix, its pieces, suffix."""
    n = max(seqs[k].stop for k in mine)
    vecs, head, tail = pieces(seqs, results, mine, n, dim, prefix, suffix)
    parts = [x for x in (head, vecs, tail) if x is not None and len(x)]
    return np.concatenate(parts)
