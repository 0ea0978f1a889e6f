"""The ONNX engine of Spark NLP transformer zips (any family), run by onnxruntime.

The ``*_onnx`` file is a zip holding one ONNX graph whose member name varies by Spark NLP
version (``model.onnx``, ``bert_onnx``, ...): it is read in place through
:class:`modelhub.safezip.SafeZip` under the ``MODELHUB_EXTRACT_MAX_*`` caps, and handed to
onnxruntime as bytes, so loading writes nothing.

External data (research §1.3): a graph whose tensors live in side files (``model.onnx_data``
inside the zip, or files next to ``*_onnx`` in the model folder, see
:class:`~modelhub.loaders.sparknlp.zipmodel.SparkNlpZip.side_files`) is written with its
data into a private temporary folder, the only case where loading writes files; the folder
lives as long as the runner. Spark NLP copies a side file unzipped beside the engine zip as
``<suffix>_<model><postfix>`` (``ml/onnx/OnnxSerializeModel.scala`` idx 3586219991, e.g.
``_bge_m3_model.onnx_data``), not under the graph's external-data ``location``: so the
file is written under each ``location`` the graph names, and a lone side file serves a
graph's lone location whatever its name (``families`` O6).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from pathlib import Path, PurePosixPath

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import Family
from modelhub.loaders.sparknlp.prepared import UnpackedEngine, open_engine
from modelhub.safezip import SafeZip

log = logging.getLogger(__name__)

#: The inputs a Spark NLP transformer graph may take, in feeding order.
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_GRAPH_NAMES = ("model.onnx",)


def _graph_member(
    zf: SafeZip | UnpackedEngine, engine_file: Path
) -> tuple[PurePosixPath, list[PurePosixPath]]:
    """The graph member and the other members (external data) of an engine zip."""
    files = zf.files()
    if not files:
        raise ArtifactFormatError(f"{engine_file}: the ONNX engine zip is empty")
    if len(files) == 1:
        return files[0], []
    graphs = [
        p
        for p in files
        if p.name in _GRAPH_NAMES or p.name == engine_file.name or p.suffix == ".onnx"
    ]
    if len(graphs) != 1:
        raise ArtifactFormatError(
            f"{engine_file}: expected one ONNX graph inside, found "
            f"{', '.join(sorted(p.name for p in files))}"
        )
    return graphs[0], [p for p in files if p != graphs[0]]


def _external_locations(graph: bytes, source: str) -> list[str]:
    """The ``location`` of every external-data tensor of the graph (needs ``onnx``)."""
    try:
        import onnx
    except ImportError as exc:
        raise ArtifactFormatError(
            f"{source}: this ONNX graph keeps its weights in side files; reading them needs "
            "the 'onnx' package (pip install 'modelhub[onnx]')"
        ) from exc
    try:
        model = onnx.load_model_from_string(graph)  # bytes: external data is not read
    except Exception as exc:
        raise ArtifactFormatError(f"{source}: not a readable ONNX model ({exc})") from None
    found: list[str] = []
    for tensor in model.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            for entry in tensor.external_data:
                if entry.key == "location" and entry.value not in found:
                    found.append(entry.value)
    return found


def _plain_location(location: str, source: str) -> str:
    """``location`` when it is a plain file name; a typed error otherwise. The graph is
    data from the publisher: a location with a folder part, ``..``, an absolute or a
    Windows path could make the ONNX reader open a file outside the model folder."""
    bad = (
        not location
        or location in (".", "..")
        or "/" in location
        or "\\" in location
        or "\x00" in location
        or ":" in location
        or len(location) > 255
    )
    if bad:
        raise ArtifactFormatError(
            f"{source}: the graph keeps weights in {location[:300]!r}, which is not a plain "
            "file name beside the graph; refused (external data must stay inside the model "
            "folder)"
        )
    return location


def _session(model: bytes | str, source: str, threads: int | None):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    # Spinning threads slow whatever runs next on a small CPU (see engines/onnx_engine.py).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ArtifactFormatError(f"{source}: onnxruntime cannot load this graph ({exc})") from None


class OnnxRunner:
    """An onnxruntime session over one Spark NLP engine graph (the :class:`Runner` face)."""

    engine = "onnx"

    def __init__(self, session: object, source: str, family: Family) -> None:
        self.session = session
        self.source = source
        self.family = family
        declared = [i.name for i in session.get_inputs()]  # type: ignore[attr-defined]
        unknown = [n for n in declared if n not in KNOWN_INPUTS]
        if "input_ids" not in declared or unknown:
            raise ArtifactFormatError(
                f"{source}: the ONNX graph's inputs are {', '.join(declared)}; a Spark NLP "
                f"{family.annotator} graph takes input_ids and optionally "
                "attention_mask, token_type_ids"
            )
        self.inputs = tuple(n for n in KNOWN_INPUTS if n in declared)
        outs = session.get_outputs()  # type: ignore[attr-defined]
        self.outputs = tuple(o.name for o in outs)
        self.hidden_size = self._hidden_size(outs)

    def _hidden_size(self, outs: list) -> int:  # type: ignore[type-arg]
        for o in outs:
            shape = o.shape
            if shape and isinstance(shape[-1], int) and shape[-1] > 0:
                return int(shape[-1])
        # Symbolic last dimension: one tiny probe run tells.
        ids = np.zeros((1, 2), dtype=np.int64)
        first = next(iter(self(ids, np.ones_like(ids)).values()))
        return int(first.shape[-1])

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        ids = np.ascontiguousarray(input_ids, dtype=np.int64)
        feed = {"input_ids": ids}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = np.ascontiguousarray(attention_mask, dtype=np.int64)
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = (
                np.zeros_like(ids)
                if token_type_ids is None
                else np.ascontiguousarray(token_type_ids, dtype=np.int64)
            )
        try:
            values = self.session.run(list(self.outputs), feed)  # type: ignore[attr-defined]
        except Exception as exc:  # onnxruntime's own exception classes, not importable here
            # e.g. a maxSentenceLength past the graph's position table
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ArtifactFormatError(
                f"{self.source}: the ONNX graph rejected a batch of shape "
                f"{tuple(ids.shape)} ({first[:500]})"
            ) from None
        return {
            name: np.asarray(v, dtype=np.float32)
            for name, v in zip(self.outputs, values, strict=True)
        }

    def __repr__(self) -> str:
        return f"OnnxRunner({self.source!r}, inputs={self.inputs}, outputs={self.outputs})"


def open_onnx(
    engine_file: Path,
    family: Family,
    *,
    threads: int | None = None,
    side_files: tuple[Path, ...] | None = None,
    unpacked: Path | None = None,
    plain_graph: Path | None = None,
) -> OnnxRunner:
    """The runner of a ``*_onnx`` engine zip. ``side_files``: external-data files next to
    it (default: found in its folder as :mod:`~modelhub.loaders.sparknlp.zipmodel` does);
    ``unpacked``: its members already inflated (:mod:`~modelhub.loaders.sparknlp.prepared`);
    ``plain_graph``: among them, the graph found self-contained when it was
    prepared, which onnxruntime reads from its path (faster than from bytes)."""
    engine_file = Path(engine_file)
    if plain_graph is not None:
        source = f"{engine_file}:{plain_graph.name}"
        return OnnxRunner(_session(str(plain_graph), source, threads), source, family)
    if side_files is None:
        from modelhub.loaders.sparknlp.zipmodel import _side_files

        side_files = _side_files(engine_file.parent, engine_file)
    with open_engine(engine_file, unpacked) as zf:
        member, extra = _graph_member(zf, engine_file)
        graph = zf.read(member)
        source = f"{engine_file}:{member.name}"
        if not extra and not side_files:
            return OnnxRunner(_session(graph, source, threads), source, family)
        locations = _external_locations(graph, source)
        if not locations:
            return OnnxRunner(_session(graph, source, threads), source, family)
        work = Path(tempfile.mkdtemp(prefix="modelhub-onnx-"))
        try:
            # name -> (inside the engine zip?, where)
            candidates: dict[str, tuple[bool, Path | PurePosixPath]] = {
                p.name: (False, p) for p in side_files
            }
            candidates.update({p.name: (True, p) for p in extra})
            for location in locations:
                target = work / _plain_location(location, source)
                found = candidates.get(location)
                # one file under another name: only for one location, else a graph naming
                # many locations would copy the same (large) file once for each
                if found is None and len(candidates) == 1 and len(locations) == 1:
                    found = next(iter(candidates.values()))
                if found is None:
                    raise ArtifactFormatError(
                        f"{source}: the graph's weights live in {location!r}, which is neither "
                        f"in {engine_file.name} nor beside it"
                    )
                inside, where = found
                if inside:
                    with zf.open(where) as src, target.open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                else:
                    shutil.copyfile(where, target)
            graph_path = work / "model.onnx"
            graph_path.write_bytes(graph)
            runner = OnnxRunner(_session(str(graph_path), source, threads), source, family)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    weakref.finalize(runner, shutil.rmtree, work, True)
    return runner


__all__ = ["KNOWN_INPUTS", "OnnxRunner", "open_onnx"]
