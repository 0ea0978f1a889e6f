"""A reader for the Java Object Serialization Stream protocol, limited to plain data.

Spark's ``saveAsObjectFile`` stores each batch of records as a Java-serialized array; a
Spark NLP vocabulary batch is an array of ``scala.Tuple2(String, java.lang.Integer)``.
This module parses the stream grammar (class descriptors, objects, arrays, strings, back
references) into Python values without ever running code, and refuses any class outside
an allow-list, so a crafted file cannot smuggle anything past it.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from modelhub.errors import ArtifactFormatError

_MAGIC = 0xACED
_VERSION = 5
_BASE_HANDLE = 0x7E0000

TC_NULL = 0x70
TC_REFERENCE = 0x71
TC_CLASSDESC = 0x72
TC_OBJECT = 0x73
TC_STRING = 0x74
TC_ARRAY = 0x75
TC_CLASS = 0x76
TC_BLOCKDATA = 0x77
TC_ENDBLOCKDATA = 0x78
TC_RESET = 0x79
TC_BLOCKDATALONG = 0x7A
TC_LONGSTRING = 0x7C
TC_PROXYCLASSDESC = 0x7D
TC_ENUM = 0x7E

SC_WRITE_METHOD = 0x01
SC_SERIALIZABLE = 0x02
SC_EXTERNALIZABLE = 0x04

_PRIMITIVES: dict[str, tuple[str, int]] = {
    "B": (">b", 1),
    "C": (">H", 2),
    "D": (">d", 8),
    "F": (">f", 4),
    "I": (">i", 4),
    "J": (">q", 8),
    "S": (">h", 2),
    "Z": (">?", 1),
}

#: The classes a Spark NLP vocabulary batch may contain.
TUPLE2_CLASSES = frozenset(
    {
        "[Lscala.Tuple2;",
        "[Ljava.lang.Object;",  # the same batch written through the Java RDD API
        "scala.Tuple2",
        "java.lang.Integer",
        "java.lang.Number",
    }
)


@dataclass(frozen=True, slots=True)
class ClassDesc:
    name: str
    uid: int
    flags: int
    fields: tuple[tuple[str, str], ...]  # (type code, field name)
    superclass: ClassDesc | None


@dataclass(slots=True)
class JavaObject:
    class_name: str
    fields: dict[str, Any] = field(default_factory=dict)


def _decode_modified_utf8(raw: bytes) -> str:
    # Java's modified UTF-8: NUL as C0 80 and supplementary characters as surrogate pairs.
    text = raw.replace(b"\xc0\x80", b"\x00").decode("utf-8", "surrogatepass")
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


class _Parser:
    def __init__(self, data: bytes, source: str, allowed: Collection[str]) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.allowed = allowed
        self.handles: list[Any] = []

    def fail(self, message: str) -> ArtifactFormatError:
        return ArtifactFormatError(
            f"{self.source}: {message} (Java serialization, byte {self.pos})"
        )

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"stream is truncated: {n} more bytes expected")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, size: int) -> Any:
        return struct.unpack(fmt, self.take(size))[0]

    def utf(self) -> str:
        return self._utf(self.unpack(">H", 2))

    def _utf(self, length: int) -> str:
        raw = self.take(length)
        try:
            return _decode_modified_utf8(raw)
        except UnicodeError as exc:
            raise self.fail(f"bad modified UTF-8 string ({exc})") from None

    def new_handle(self, value: Any) -> int:
        self.handles.append(value)
        return len(self.handles) - 1

    def reference(self) -> Any:
        handle = self.unpack(">i", 4) - _BASE_HANDLE
        if not 0 <= handle < len(self.handles):
            raise self.fail(f"back reference to unknown handle {handle + _BASE_HANDLE:#x}")
        return self.handles[handle]

    # -- grammar -----------------------------------------------------------------------

    def read_stream(self) -> Any:
        if self.unpack(">H", 2) != _MAGIC:
            raise self.fail("not a Java serialization stream (expected magic 0xACED)")
        version = self.unpack(">H", 2)
        if version != _VERSION:
            raise self.fail(f"unsupported stream version {version} (expected 5)")
        value = self.content()
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} unexpected bytes after the object")
        return value

    def content(self) -> Any:
        tc = self.take(1)[0]
        if tc == TC_NULL:
            return None
        if tc == TC_REFERENCE:
            return self.reference()
        if tc == TC_STRING:
            text = self.utf()
            self.new_handle(text)
            return text
        if tc == TC_LONGSTRING:
            text = self._utf(self.unpack(">q", 8))
            self.new_handle(text)
            return text
        if tc == TC_OBJECT:
            return self.object()
        if tc == TC_ARRAY:
            return self.array()
        if tc == TC_RESET:
            self.handles.clear()
            return self.content()
        names = {TC_CLASS: "a Class", TC_ENUM: "an enum", TC_CLASSDESC: "a class descriptor"}
        raise self.fail(f"unexpected {names.get(tc, f'type code {tc:#04x}')} in the stream")

    def class_desc(self) -> ClassDesc | None:
        tc = self.take(1)[0]
        if tc == TC_NULL:
            return None
        if tc == TC_REFERENCE:
            desc = self.reference()
            if not isinstance(desc, ClassDesc):
                raise self.fail("back reference where a class descriptor was expected")
            return desc
        if tc == TC_PROXYCLASSDESC:
            raise self.fail("unexpected dynamic proxy class")
        if tc != TC_CLASSDESC:
            raise self.fail(f"expected a class descriptor, found type code {tc:#04x}")
        name = self.utf()
        if name not in self.allowed:
            raise self.fail(
                f"unexpected Java class {name!r}; expected only {', '.join(sorted(self.allowed))}"
            )
        uid = self.unpack(">q", 8)
        slot = self.new_handle(None)
        flags = self.take(1)[0]
        if flags & SC_EXTERNALIZABLE:
            raise self.fail(f"externalizable class {name!r} is not supported")
        fields: list[tuple[str, str]] = []
        for _ in range(self.unpack(">H", 2)):
            code = chr(self.take(1)[0])
            fname = self.utf()
            if code in "L[":
                type_name = self.content()
                if not isinstance(type_name, str):
                    raise self.fail(f"field {fname!r} of {name} has no type name")
            elif code not in _PRIMITIVES:
                raise self.fail(f"field {fname!r} of {name} has unknown type code {code!r}")
            fields.append((code, fname))
        self.skip_annotation()
        desc = ClassDesc(name, uid, flags, tuple(fields), self.class_desc())
        self.handles[slot] = desc
        return desc

    def skip_annotation(self) -> None:
        """Class/object annotations: block data and objects up to TC_ENDBLOCKDATA."""
        while True:
            tc = self.data[self.pos] if self.pos < len(self.data) else None
            if tc is None:
                raise self.fail("stream is truncated inside an annotation")
            if tc == TC_ENDBLOCKDATA:
                self.pos += 1
                return
            if tc == TC_BLOCKDATA:
                self.pos += 1
                self.take(self.take(1)[0])
            elif tc == TC_BLOCKDATALONG:
                self.pos += 1
                self.take(self.unpack(">i", 4))
            else:
                self.content()

    def object(self) -> JavaObject:
        desc = self.class_desc()
        if desc is None:
            raise self.fail("object without a class")
        obj = JavaObject(desc.name)
        self.new_handle(obj)
        chain: list[ClassDesc] = []
        d: ClassDesc | None = desc
        while d is not None:
            chain.append(d)
            d = d.superclass
        for cls in reversed(chain):
            for code, fname in cls.fields:
                obj.fields[fname] = self.value(code)
            if cls.flags & SC_WRITE_METHOD:
                self.skip_annotation()
        return obj

    def value(self, code: str) -> Any:
        if code in "L[":
            return self.content()
        fmt, size = _PRIMITIVES[code]
        return self.unpack(fmt, size)

    def array(self) -> list[Any]:
        desc = self.class_desc()
        if desc is None or not desc.name.startswith("["):
            raise self.fail("array without an array class")
        items: list[Any] = []
        self.new_handle(items)
        size = self.unpack(">i", 4)
        if size < 0 or size > len(self.data):
            raise self.fail(f"implausible array length {size}")
        code = desc.name[1]
        for _ in range(size):
            items.append(self.value(code))
        return items


def loads(data: bytes, source: str, allowed: Collection[str]) -> Any:
    """Parses one serialized object; only classes named in ``allowed`` may appear.
    ``java.lang.String`` needs no entry (strings have their own type code)."""
    return _Parser(data, source, allowed).read_stream()


def read_tuple2_pairs(data: bytes, source: str) -> list[tuple[str, int]]:
    """One ``saveAsObjectFile`` batch of ``(String, Integer)`` tuples."""
    value = loads(data, source, TUPLE2_CLASSES)
    if not isinstance(value, list):
        raise ArtifactFormatError(
            f"{source}: expected a serialized array of scala.Tuple2, found {type(value).__name__}"
        )
    pairs: list[tuple[str, int]] = []
    for item in value:
        if not isinstance(item, JavaObject) or item.class_name != "scala.Tuple2":
            found = item.class_name if isinstance(item, JavaObject) else type(item).__name__
            raise ArtifactFormatError(f"{source}: expected scala.Tuple2 elements, found {found}")
        first, second = item.fields.get("_1"), item.fields.get("_2")
        if (
            not isinstance(first, str)
            or not isinstance(second, JavaObject)
            or second.class_name != "java.lang.Integer"
            or not isinstance(second.fields.get("value"), int)
        ):
            raise ArtifactFormatError(
                f"{source}: expected scala.Tuple2(String, java.lang.Integer), found "
                f"({type(first).__name__}, "
                f"{second.class_name if isinstance(second, JavaObject) else type(second).__name__})"
            )
        pairs.append((first, second.fields["value"]))
    return pairs


def _int_value(obj: Any) -> int | None:
    if isinstance(obj, JavaObject) and obj.class_name == "java.lang.Integer":
        value = obj.fields.get("value")
        return value if isinstance(value, int) else None
    return None


def read_pair_keyed_pairs(data: bytes, source: str) -> list[tuple[tuple[str, str], int]]:
    """One ``saveAsObjectFile`` batch of a ``MapFeature[(String, String), Int]`` (the BPE
    merges): ``scala.Tuple2(scala.Tuple2(String, String), Integer)`` elements. The nested
    key is a ``scala.Tuple2`` too, so the allow-list is the vocabulary's."""
    value = loads(data, source, TUPLE2_CLASSES)
    if not isinstance(value, list):
        raise ArtifactFormatError(
            f"{source}: expected a serialized array of scala.Tuple2, found {type(value).__name__}"
        )
    pairs: list[tuple[tuple[str, str], int]] = []
    for item in value:
        key = item.fields.get("_1") if isinstance(item, JavaObject) else None
        rank = _int_value(item.fields.get("_2")) if isinstance(item, JavaObject) else None
        left = key.fields.get("_1") if isinstance(key, JavaObject) else None
        right = key.fields.get("_2") if isinstance(key, JavaObject) else None
        if (
            not isinstance(item, JavaObject)
            or item.class_name != "scala.Tuple2"
            or not isinstance(key, JavaObject)
            or key.class_name != "scala.Tuple2"
            or not isinstance(left, str)
            or not isinstance(right, str)
            or rank is None
        ):
            found = item.class_name if isinstance(item, JavaObject) else type(item).__name__
            if isinstance(item, JavaObject) and isinstance(key, JavaObject):
                found = f"{found}({key.class_name}, ...)"
            raise ArtifactFormatError(
                f"{source}: expected scala.Tuple2(scala.Tuple2(String, String), "
                f"java.lang.Integer) elements, found {found}"
            )
        pairs.append(((left, right), rank))
    return pairs
