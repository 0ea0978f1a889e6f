"""A reader for Hadoop SequenceFiles, the files Spark's ``saveAsObjectFile`` writes.

Only what Spark writes is supported: version 6 files (older versions 4-5 read the same),
uncompressed or record-compressed with Hadoop's ``DefaultCodec`` (zlib). Block compression
and other codecs are refused with a clear error rather than misread.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelhub.errors import ArtifactFormatError

_MAGIC = b"SEQ"
_SYNC_ESCAPE = -1
_SYNC_SIZE = 16
_DEFAULT_CODEC = "org.apache.hadoop.io.compress.DefaultCodec"
NULL_WRITABLE = "org.apache.hadoop.io.NullWritable"
BYTES_WRITABLE = "org.apache.hadoop.io.BytesWritable"


@dataclass(frozen=True, slots=True)
class SequenceFileHeader:
    version: int
    key_class: str
    value_class: str
    compressed: bool
    block_compressed: bool
    codec: str | None
    metadata: dict[str, str]
    sync: bytes


class _Cursor:
    """Bounds-checked reads over a bytes buffer; running past the end is a truncated file."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ArtifactFormatError(
                f"{self.path}: SequenceFile is truncated: expected {n} more bytes for {what} "
                f"at offset {self.pos}, the file has {len(self.data) - self.pos}"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def int32(self, what: str) -> int:
        return int(struct.unpack(">i", self.take(4, what))[0])

    def boolean(self, what: str) -> bool:
        return self.take(1, what) != b"\x00"

    def vint(self, what: str) -> int:
        """Hadoop's ``WritableUtils.readVLong`` zero-compressed encoding."""
        first = struct.unpack(">b", self.take(1, what))[0]
        if first >= -112:
            return int(first)
        negative = first < -120
        size = (-119 - first) if negative else (-111 - first)
        value = 0
        for byte in self.take(size - 1, what):
            value = (value << 8) | byte
        return ~value if negative else value

    def text(self, what: str) -> str:
        length = self.vint(what)
        try:
            return self.take(length, what).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ArtifactFormatError(f"{self.path}: {what} is not UTF-8 ({exc})") from None

    @property
    def at_end(self) -> bool:
        return self.pos >= len(self.data)


def _read_header(cur: _Cursor) -> SequenceFileHeader:
    path = cur.path
    if len(cur.data) < 4 or cur.data[:3] != _MAGIC:
        raise ArtifactFormatError(
            f"{path}: not a Hadoop SequenceFile (expected the magic bytes 'SEQ', "
            f"found {cur.data[:3]!r})"
        )
    cur.take(3, "magic")
    version = cur.take(1, "version")[0]
    if version < 4 or version > 6:
        raise ArtifactFormatError(
            f"{path}: SequenceFile version {version} is not supported (expected 4 to 6)"
        )
    key_class = cur.text("key class name")
    value_class = cur.text("value class name")
    compressed = cur.boolean("compression flag")
    block_compressed = cur.boolean("block compression flag")
    codec = cur.text("codec class name") if compressed else None
    metadata: dict[str, str] = {}
    if version >= 6:
        count = cur.int32("metadata count")
        if count < 0:
            raise ArtifactFormatError(f"{path}: negative metadata count {count}")
        for _ in range(count):
            key = cur.text("metadata key")
            metadata[key] = cur.text("metadata value")
    sync = cur.take(_SYNC_SIZE, "sync marker")
    return SequenceFileHeader(
        version, key_class, value_class, compressed, block_compressed, codec, metadata, sync
    )


def read_header(path: Path) -> SequenceFileHeader:
    return _read_header(_Cursor(Path(path).read_bytes(), Path(path)))


def iter_records(path: Path) -> Iterator[tuple[bytes, bytes]]:
    """Yields ``(key, value)`` raw serialized bytes of each record, in file order."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactFormatError(f"{path}: cannot read the SequenceFile ({exc})") from None
    cur = _Cursor(data, path)
    header = _read_header(cur)
    if header.block_compressed:
        raise ArtifactFormatError(
            f"{path}: block-compressed SequenceFiles are not supported "
            f"(codec {header.codec}); expected Spark's default uncompressed output"
        )
    if header.compressed and header.codec != _DEFAULT_CODEC:
        raise ArtifactFormatError(
            f"{path}: SequenceFile codec {header.codec} is not supported "
            f"(expected none or {_DEFAULT_CODEC})"
        )
    while not cur.at_end:
        length = cur.int32("record length")
        if length == _SYNC_ESCAPE:
            marker = cur.take(_SYNC_SIZE, "sync marker")
            if marker != header.sync:
                raise ArtifactFormatError(
                    f"{path}: corrupt SequenceFile: sync marker at offset {cur.pos - 16} "
                    "does not match the header's"
                )
            continue
        key_length = cur.int32("key length")
        if length < 0 or key_length < 0 or key_length > length:
            raise ArtifactFormatError(
                f"{path}: corrupt SequenceFile record at offset {cur.pos - 8}: "
                f"record length {length}, key length {key_length}"
            )
        key = cur.take(key_length, "record key")
        value = cur.take(length - key_length, "record value")
        if header.compressed:
            try:
                value = zlib.decompress(value)
            except zlib.error as exc:
                raise ArtifactFormatError(
                    f"{path}: a record value does not decompress with zlib ({exc})"
                ) from None
        yield key, value


def iter_bytes_values(path: Path) -> Iterator[bytes]:
    """The payloads of a ``NullWritable`` -> ``BytesWritable`` SequenceFile, as Spark's
    ``saveAsObjectFile`` writes it."""
    path = Path(path)
    header = read_header(path)
    if header.key_class != NULL_WRITABLE or header.value_class != BYTES_WRITABLE:
        raise ArtifactFormatError(
            f"{path}: expected a SequenceFile of {NULL_WRITABLE} keys and {BYTES_WRITABLE} "
            f"values (Spark saveAsObjectFile), found {header.key_class} -> {header.value_class}"
        )
    for _key, value in iter_records(path):
        if len(value) < 4:
            raise ArtifactFormatError(f"{path}: BytesWritable value shorter than its length field")
        size = int(struct.unpack(">i", value[:4])[0])
        if size != len(value) - 4:
            raise ArtifactFormatError(
                f"{path}: BytesWritable says {size} bytes, the record holds {len(value) - 4}"
            )
        yield value[4:]
