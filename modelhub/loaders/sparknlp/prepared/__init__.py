"""A Spark NLP model folder's slow parts, prepared once into a derived folder
(:mod:`modelhub.derived`) so that every later load skips them.

Spark NLP keeps its engine deflated inside a zip (``*_onnx``, ``*_openvino``,
``*_tensorflow``) and its vocabulary as Java-serialized Scala tuples: reading them costs
more than running the model's session set-up (a MiniLM-size engine: about 170 ms of
inflating; a 30,522-piece vocabulary: about 240 ms of parsing, on a 2-vCPU EPYC). Spark NLP
itself unzips the engine into a temporary folder on every load. Here the first load that
has a derived folder writes ``<derived_dir>/sparknlp-<key>/``:

- ``engine/``: the engine zip's members, inflated, read by the runners through
  :class:`UnpackedEngine` (the :class:`~modelhub.safezip.SafeZip` face: same member names,
  same checks on what they hold); an ONNX graph checked self-contained is named in the
  manifest (``plain_graph``) and given to onnxruntime by path, an OpenVINO IR is read by
  OpenVINO from its files; a TensorFlow engine is kept converted instead (the weights under
  transformers' names and the model config, written by the loader's ``convert``:
  :func:`~modelhub.loaders.sparknlp.runners.tensorflow.write_converted`, the BERT
  loader's own), so that no checkpoint or GraphDef is parsed again;
- ``tokenizer.json``: the vocabulary and merges in id order, as parsed (and checked) from
  ``fields/``.

``<key>`` hashes what they are made of: this module's :data:`FORMAT`, the annotator and
engine, and the SHA-256 of the engine file and of every ``fields/vocabulary`` and
``fields/merges`` part file, memoised by file stamps in ``<derived_dir>/sparknlp-source.json``
(a changed file is hashed again, so an edited model folder is prepared again). The folder
is written atomically with a manifest of SHA-256s; a load checks sizes and mtimes, a
damaged folder is discarded and prepared again, and ``modelhub cache verify`` re-hashes a
cache entry's. It costs disk (the engine's inflated size), which ``modelhub cache
rm``/``prune`` free with the entry.

What the cache holds is trusted as modelhub wrote it, as with downloads: whoever can write
it can rewrite a prepared folder with its manifest, or point ``sparknlp-source.json`` at
another prepared folder while the stamps still match (the memo's design: an edit that keeps
a file's size, mtime and inode is not seen). What a load refuses is being hung or led out:
a FIFO, device or link in place of a manifest, memo or prepared file, a link on the way
to one, a manifest naming a path outside its folder, JSON nested too deep: all damage,
prepared again.

Without a derived folder (``derived_dir=None``), or when it cannot be written (a read-only
cache), the model is read from the zip as before: nothing here is needed to load.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from modelhub.derived import (
    check_folder,
    digest_files,
    discard,
    read_manifest,
    write_folder,
)
from modelhub.errors import ArtifactFormatError, IntegrityError
from modelhub.loaders.sparknlp.prepared.engine import UnpackedEngine, open_engine
from modelhub.loaders.sparknlp.prepared.state import (
    INFO_NAME,
    STATE_NAME,
    damaged,
    load_state,
    plain_config,
    save_state,
)
from modelhub.saferead import read_json
from modelhub.safezip import SafeZip, zip_limits

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)


class Preparable(Protocol):
    """What :func:`prepare` reads of a model folder (both Spark NLP loaders' artifacts)."""

    @property
    def root(self) -> Path: ...
    @property
    def engine(self) -> str: ...
    @property
    def engine_file(self) -> Path: ...
    @property
    def side_files(self) -> tuple[Path, ...]: ...
    @property
    def annotator(self) -> str: ...
    @property
    def token_features(self) -> tuple[str, ...]: ...  # "vocabulary", "merges"
    def vocabulary(self) -> list[str] | None: ...
    def merges(self) -> list[tuple[str, str]] | None: ...


FOLDER_PREFIX = "sparknlp-"
SOURCE_NAME = "sparknlp-source.json"
TOKENIZER_NAME = "tokenizer.json"
ENGINE_DIR = "engine"
#: Bumped when what a prepared folder holds, or how it is made, changes.
FORMAT = 5


@dataclass(frozen=True, slots=True)
class Prepared:
    """A verified prepared folder: the unpacked engine and the parsed tokenizer files."""

    folder: Path
    vocabulary: list[str] | None
    merges: list[tuple[str, str]] | None
    #: an ONNX engine's graph, checked self-contained when prepared (no external data):
    #: onnxruntime may read it from its path
    plain_graph: Path | None = None
    #: what the loader's ``describe`` recorded when it was prepared (JSON data)
    described: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> Path:
        return self.folder / ENGINE_DIR


def source_files(art: Preparable) -> dict[str, Path]:
    """What a prepared folder is made of: the engine file and the tokenizer part files."""
    files = {f"engine/{art.engine_file.name}": art.engine_file}
    for feature in art.token_features:
        folder = art.root / "fields" / feature
        for part in sorted(folder.glob("part-*")) if folder.is_dir() else ():
            if part.is_file() and not part.is_symlink():
                files[f"fields/{feature}/{part.name}"] = part
    return files


def folder_key(art: Preparable, digest: str, variant: str) -> str:
    blob = json.dumps(
        {
            "format": FORMAT,
            "annotator": art.annotator,
            "engine": art.engine,
            "variant": variant,
            "source": digest,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def prepare(
    art: Preparable,
    derived_dir: Path,
    *,
    convert: Callable[[Path], None] | None = None,
    describe: Callable[[Path], dict[str, Any]] | None = None,
    variant: str = "",
) -> Prepared | None:
    """The prepared folder of ``art`` in ``derived_dir``, made now if absent or damaged;
    None when it cannot be made here (the caller reads the zip). Bad model files raise
    the same typed errors a load from the zip raises. ``convert(folder)``, when given,
    writes the engine's prepared form into the empty ``engine/`` folder instead of its
    inflated members (the TensorFlow engines' converted weights); ``describe(folder)``
    returns JSON data about the written engine kept in the manifest (the BERT loader's
    model config), given back as :attr:`Prepared.described`; ``variant`` names the options
    that change what they write (part of the key)."""
    if art.side_files:
        # ONNX external data beside the engine zip: rare; the ONNX runner reads it in place.
        return None
    derived_dir = Path(derived_dir)
    try:
        digest = digest_files(source_files(art), derived_dir / SOURCE_NAME)
    except OSError as exc:
        raise ArtifactFormatError(f"{art.root}: cannot read the model files ({exc})") from exc
    folder = derived_dir / f"{FOLDER_PREFIX}{folder_key(art, digest, variant)}"
    # Folders appear whole (renamed into place with their manifest): one there without a
    # readable manifest, or a link in its place, is damage to clear, not a reason to give up.
    if folder.exists() or folder.is_symlink():
        manifest = read_manifest(folder)
        problems = check_folder(folder, hashes="stamp", manifest=manifest)
        if not problems and manifest is not None:
            found = _read_tokenizer(folder)
            if found is not None:
                return Prepared(
                    folder, *found, _plain_graph(folder, manifest), _described(manifest)
                )
            problems = [f"{TOKENIZER_NAME}: unreadable"]
        log.warning(
            "the prepared Spark NLP model %s is damaged (%s): preparing it again",
            folder,
            "; ".join(problems),
        )
        discard(folder)
    vocabulary, merges = art.vocabulary(), art.merges()

    def build(tmp: Path) -> dict[str, Any]:
        engine = tmp / ENGINE_DIR
        engine.mkdir()
        if convert is not None:
            convert(engine)
        else:
            with SafeZip(art.engine_file, limits=zip_limits(), label=str(art.engine_file)) as zf:
                for member in zf.files():
                    rel = member.relative_to(zf.root)
                    target = engine.joinpath(*rel.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        # read() checks the member's size and CRC under the extraction caps
                        data = zf.read(member)
                    except IntegrityError as exc:
                        raise _Unpreparable(exc) from exc
                    # "x": a name the file system folds onto another (case, Unicode form on
                    # macOS) would overwrite a member: read the zip instead
                    with target.open("xb") as fh:
                        fh.write(data)
        tokens = {
            "vocabulary": vocabulary,
            "merges": None if merges is None else [list(m) for m in merges],
        }
        (tmp / TOKENIZER_NAME).write_text(json.dumps(tokens, ensure_ascii=False), "utf-8")
        meta = {
            "kind": "sparknlp-prepared",
            "annotator": art.annotator,
            "engine": art.engine,
            "engine_file": art.engine_file.name,
            "source_sha256": digest,
        }
        members = [p for p in engine.rglob("*") if p.is_file()]
        if art.engine == "onnx" and len(members) == 1 and self_contained(members[0].read_bytes()):
            meta["plain_graph"] = members[0].relative_to(tmp).as_posix()
        if describe is not None:
            meta["described"] = describe(engine)
        return meta

    try:
        folder = write_folder(derived_dir, folder.name, build)
    except _Unpreparable as exc:
        # A damaged member the runner may never read (a load from the zip reads only what
        # it needs): the zip decides, raising the same error when the member matters.
        log.warning("cannot prepare %s (%s): reading the zip", art.root, exc.__cause__)
        return None
    except OSError as exc:  # a read-only or full cache: load from the zip
        log.warning("cannot keep a prepared copy of %s (%s): reading the zip", art.root, exc)
        return None
    found = _read_tokenizer(folder)
    manifest = read_manifest(folder)
    if found is None or manifest is None:  # written a moment ago: a concurrent delete
        return None
    return Prepared(folder, *found, _plain_graph(folder, manifest), _described(manifest))


def self_contained(graph: bytes) -> bool:
    """Whether the graph keeps every tensor inside itself (initializers, sparse ones and
    node attributes, subgraphs and functions included): only such a graph may be loaded
    by onnxruntime from its path, where an external-data ``location`` would be resolved
    against the folder. False too when ``onnx`` is missing or cannot parse it."""
    try:
        import onnx
        from onnx.external_data_helper import uses_external_data
    except ImportError:
        return False
    try:
        model = onnx.load_model_from_string(graph)
    except Exception:
        return False

    def of_graph(g: Any) -> Iterator[Any]:
        yield from g.initializer
        for sparse in g.sparse_initializer:
            yield from (sparse.values, sparse.indices)
        yield from of_nodes(g.node)

    def of_nodes(nodes: Any) -> Iterator[Any]:
        for node in nodes:
            for a in node.attribute:
                if a.HasField("t"):
                    yield a.t
                yield from a.tensors
                if a.HasField("sparse_tensor"):
                    yield from (a.sparse_tensor.values, a.sparse_tensor.indices)
                for sub in [a.g] if a.HasField("g") else []:
                    yield from of_graph(sub)
                for sub in a.graphs:
                    yield from of_graph(sub)

    tensors = chain(of_graph(model.graph), *(of_nodes(f.node) for f in model.functions))
    return not any(uses_external_data(t) for t in tensors)


def _described(manifest: dict[str, Any]) -> dict[str, Any]:
    found = manifest.get("described")
    return found if isinstance(found, dict) else {}


def _plain_graph(folder: Path, manifest: dict[str, Any]) -> Path | None:
    """The manifest's ``plain_graph``, when it names one of its own files under
    ``engine/`` (the manifest is data: anything else is ignored)."""
    rel = manifest.get("plain_graph")
    if not isinstance(rel, str) or rel not in manifest["files"]:
        return None
    parts = PurePosixPath(rel).parts
    if len(parts) != 2 or parts[0] != ENGINE_DIR or parts[1] in (".", ".."):
        return None
    path = folder / ENGINE_DIR / parts[1]
    return path if path.is_file() and not path.is_symlink() else None


class _Unpreparable(Exception):
    """A member of the engine zip that cannot be inflated (its cause says why)."""


def _read_tokenizer(folder: Path) -> tuple[list[str] | None, list[tuple[str, str]] | None] | None:
    try:
        data = read_json(folder / TOKENIZER_NAME, limit=1 << 31)
        vocabulary = data["vocabulary"]
        pairs = data["merges"]
        merges = None if pairs is None else [(str(a), str(b)) for a, b in pairs]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if vocabulary is not None and not (
        isinstance(vocabulary, list) and all(isinstance(v, str) for v in vocabulary)
    ):
        return None
    return vocabulary, merges


__all__ = [
    "FORMAT",
    "INFO_NAME",
    "STATE_NAME",
    "Preparable",
    "Prepared",
    "UnpackedEngine",
    "damaged",
    "load_state",
    "open_engine",
    "plain_config",
    "prepare",
    "save_state",
]
