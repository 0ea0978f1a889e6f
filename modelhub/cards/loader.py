"""Reading cards from files and folders."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from modelhub.cards.parser import parse_card
from modelhub.cards.record import ModelCard
from modelhub.errors import CardError

log = logging.getLogger(__name__)

#: Files larger than this are refused before they are read: real cards are
#: a few KB, and a huge file is a mistake (or an attack) either way.
MAX_CARD_BYTES = 10 * 1024 * 1024


def _read_capped(fd: int, size: int) -> bytes:
    """Everything up to end of file, but at most one byte past the cap: a file
    that grows (or a device that lies about its size) is still refused
    without reading it all."""
    chunks: list[bytes] = []
    total = 0
    want = size + 1  # one read for a regular file, one more to see its end
    while total <= MAX_CARD_BYTES:
        chunk = os.read(fd, min(want, MAX_CARD_BYTES + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        want = 1 << 16
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_card_text(path: str | os.PathLike[str]) -> str:
    """A card file's text, or :class:`CardError` for a missing, oversized,
    binary or non-UTF-8 file."""
    source = os.fspath(path)
    try:
        # Plain file descriptors: half the system calls of open() (no isatty
        # probe, no buffer), which shows when thousands of cards are read.
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            size = info.st_size
            if size > MAX_CARD_BYTES:
                raise CardError(
                    f"file is {size} bytes, more than the {MAX_CARD_BYTES} a card may have "
                    "(is this really a model card?)",
                    path=source,
                )
            data = _read_capped(fd, size)
        finally:
            os.close(fd)
    except IsADirectoryError:
        raise CardError("is a directory, not a card file", path=source) from None
    except FileNotFoundError:
        raise CardError("no such file", path=source) from None
    except OSError as exc:
        raise CardError(f"cannot read: {exc.strerror or exc}", path=source) from None
    if len(data) > MAX_CARD_BYTES:
        raise CardError(
            f"file is more than the {MAX_CARD_BYTES} bytes a card may have", path=source
        )
    if not data.strip():
        raise CardError("empty file: a card needs front matter and a body", path=source, line=1)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise CardError(
            "binary file (NUL byte): this is not a Markdown card",
            path=source,
            line=data.count(b"\n", 0, nul) + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CardError(
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            "(save the card as UTF-8)",
            path=source,
            line=line,
        ) from None


def load_card(path: str | os.PathLike[str]) -> ModelCard:
    """Reads and parses one card file."""
    source = os.fspath(path)
    return parse_card(read_card_text(source), source=source)


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            files.extend(sorted(f for f in p.glob("*.md") if f.is_file()))
        else:
            files.append(p)
    return files


def load_cards(paths: Iterable[str | Path], *, strict: bool = False) -> list[ModelCard]:
    """Parses every card in ``paths``: files, or folders whose ``*.md`` files
    are read in sorted order. A bad card is skipped with one warning in the
    log; with ``strict=True`` the first bad card raises its
    :class:`CardError`."""
    cards: list[ModelCard] = []
    for file in _expand(paths):
        try:
            cards.append(load_card(file))
        except CardError as exc:
            if strict:
                raise
            log.warning("skipping card: %s", exc)
    return cards
