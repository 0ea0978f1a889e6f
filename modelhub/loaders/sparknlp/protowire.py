"""Just enough of the protobuf wire format to read TensorFlow's checkpoint index entries,
object graphs and GraphDefs without the ``protobuf`` or ``tensorflow`` packages."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from modelhub.errors import ArtifactFormatError


def varint(buf: bytes | memoryview, pos: int, source: str) -> tuple[int, int]:
    """Decodes a base-128 varint at ``pos``; returns ``(value, next position)``."""
    value = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ArtifactFormatError(f"{source}: truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ArtifactFormatError(f"{source}: varint longer than 10 bytes")


def fields(buf: bytes | memoryview, source: str) -> Iterator[tuple[int, int, Any]]:
    """``(field number, wire type, value)`` for each field of a message; length-delimited
    values are ``bytes``, the others ``int`` (fixed-size ones as unsigned)."""
    pos = 0
    end = len(buf)
    while pos < end:
        tag, pos = varint(buf, pos, source)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = varint(buf, pos, source)
            yield number, wire, value
        elif wire == 1:
            if pos + 8 > end:
                raise ArtifactFormatError(f"{source}: truncated fixed64 field {number}")
            yield number, wire, struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            size, pos = varint(buf, pos, source)
            if pos + size > end:
                raise ArtifactFormatError(f"{source}: truncated field {number} ({size} bytes)")
            yield number, wire, buf[pos : pos + size]
            pos += size
        elif wire == 5:
            if pos + 4 > end:
                raise ArtifactFormatError(f"{source}: truncated fixed32 field {number}")
            yield number, wire, struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ArtifactFormatError(f"{source}: unsupported protobuf wire type {wire}")


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def packed_varints(buf: bytes, source: str) -> list[int]:
    out: list[int] = []
    pos = 0
    while pos < len(buf):
        value, pos = varint(buf, pos, source)
        out.append(signed64(value))
    return out
