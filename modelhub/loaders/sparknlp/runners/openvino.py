"""The OpenVINO engine of Spark NLP zips: :func:`open_openvino` turns a ``*_openvino`` engine
file into a runner (int64 ids in, float32 hidden states out, by output name).

A ``*_openvino`` file is itself a zip holding one OpenVINO IR: an ``.xml`` graph and the
``.bin`` of its weights. Spark NLP has named the pair three ways (research §1.3, the
families docstring S3): ``saved_model.*`` (the first OpenVINO wrapper),
``<prefix>_openvino.*`` (a later one) and ``openvino_model.*`` (optimum's name, what the
newest wrapper copies). So no name is assumed: the one ``.xml`` is paired with the ``.bin``
of the same stem in the same folder.

Both members are read through :class:`modelhub.safezip.SafeZip` under the archive caps and
handed to OpenVINO from memory (``Core.read_model(model=xml, weights=Tensor)``): loading
writes nothing to disk.

The graph is compiled for the CPU with ``INFERENCE_PRECISION_HINT=f32``. OpenVINO's own
default on a CPU with native bf16 (AVX512-BF16, AMX) is bf16, which moves hidden states by
~1e-3 and makes vectors depend on the machine; float32 gives the same vectors everywhere.
``precision="bf16"`` is the opt-in for the faster, lossy mode.

``openvino`` is imported inside :func:`open_openvino` (``pip install 'modelhub[openvino]'``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from modelhub.errors import ArtifactFormatError, EngineUnavailable
from modelhub.loaders.sparknlp.prepared import UnpackedEngine, open_engine
from modelhub.safezip import SafeZip

if TYPE_CHECKING:
    from modelhub.loaders.sparknlp.families import Family

log = logging.getLogger(__name__)

ENGINE = "openvino"
#: The outputs a runner names; other outputs of a graph are ignored.
KNOWN_OUTPUTS = ("last_hidden_state", "pooler_output", "sentence_embedding", "token_embeddings")
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_REQUIRED_INPUTS = ("input_ids", "attention_mask")
# Spark NLP's toAdoptedKeys (research §1.4): the tensor names of graphs converted from
# TF Hub / TF SavedModel BERTs, mapped to the names it feeds and fetches.
_ALIASES = {
    "input_word_ids": "input_ids",
    "input_mask": "attention_mask",
    "segment_ids": "token_type_ids",
    "input_type_ids": "token_type_ids",
    "sequence_output": "last_hidden_state",
    "bert_encoder": "last_hidden_state",
}
#: OpenVINO inference precisions this runner accepts (``f32`` is the default).
PRECISIONS = ("f32", "bf16")


@dataclass(frozen=True, slots=True)
class IRMembers:
    """The IR pair found in an engine zip (members as ``engine_file / name``)."""

    xml: PurePosixPath
    bin: PurePosixPath


def find_ir(zf: SafeZip | UnpackedEngine, engine_file: Path) -> IRMembers:
    """The one ``.xml`` of the engine zip and the ``.bin`` of the same stem beside it;
    :class:`ArtifactFormatError` naming the file and what is there otherwise."""
    files = zf.files()
    xmls = [p for p in files if p.suffix.lower() == ".xml"]
    bins = [p for p in files if p.suffix.lower() == ".bin"]
    listed = ", ".join(str(p.relative_to(zf.root)) for p in files) or "nothing"
    if not xmls:
        raise ArtifactFormatError(
            f"{engine_file}: no OpenVINO IR inside (expected one .xml graph and its .bin "
            f"weights, e.g. openvino_model.xml/.bin; found {listed})"
        )
    if len(xmls) > 1:
        shown = ", ".join(str(p.relative_to(zf.root)) for p in xmls)
        raise ArtifactFormatError(
            f"{engine_file}: {len(xmls)} OpenVINO graphs inside ({shown}); Spark NLP saves "
            "one .xml with its .bin"
        )
    xml = xmls[0]
    stem = xml.with_suffix("")
    match = [p for p in bins if p.with_suffix("") == stem]
    if not match:
        raise ArtifactFormatError(
            f"{engine_file}: the OpenVINO graph {xml.name} has no weights file "
            f"{stem.name}.bin beside it (found {listed}); the engine file is incomplete"
        )
    return IRMembers(xml=xml, bin=match[0])


def _import_openvino(engine_file: Path) -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise EngineUnavailable(
            f"{engine_file}: running an OpenVINO engine needs the 'openvino' package: "
            "pip install 'modelhub[openvino]'"
        ) from exc
    return openvino


def _port_name(port: Any) -> str:
    """The name a runner uses for a graph port: a known (or aliased) name among the
    port's names, else its first name."""
    names = set(port.get_names())
    for name in (*KNOWN_INPUTS, *KNOWN_OUTPUTS):
        if name in names:
            return name
    for name in sorted(names):
        if name in _ALIASES:
            return _ALIASES[name]
    return port.get_any_name() if names else ""


_NUMPY_TYPES = {"i64": np.int64, "i32": np.int32}


class OpenVinoRunner:
    """A compiled OpenVINO graph behind the runner interface: ``runner(input_ids,
    attention_mask, token_type_ids=None)`` gives ``{output name: float32 array}``.

    An OpenVINO infer request runs one batch at a time, so each calling thread gets its
    own."""

    engine = ENGINE

    def __init__(
        self,
        compiled: Any,
        *,
        source: str,
        keep: object = None,
        threads: int | None = None,
        precision: str = "f32",
    ) -> None:
        self.source = source
        self.threads = threads
        self.precision = precision
        # The weights buffer the model was read from; the CPU plugin may keep pointing
        # into it for constants it does not repack, so it lives as long as the runner.
        self._keep = keep
        self._compiled = compiled
        self._local = threading.local()
        self._inputs: dict[str, tuple[Any, type]] = {}
        for port in compiled.inputs:
            name = _port_name(port)
            if name in self._inputs:
                raise ArtifactFormatError(f"{source}: two graph inputs are named {name!r}")
            kind = _NUMPY_TYPES.get(port.get_element_type().get_type_name(), np.int64)
            self._inputs[name] = (port, kind)
        missing = [n for n in _REQUIRED_INPUTS if n not in self._inputs]
        if missing:
            raise ArtifactFormatError(
                f"{source}: the OpenVINO graph lacks input(s) {', '.join(missing)} "
                f"(has {', '.join(self._inputs) or 'none'}; expected input_ids, "
                "attention_mask and optionally token_type_ids)"
            )
        unknown = [n for n in self._inputs if n not in KNOWN_INPUTS]
        if unknown:
            raise ArtifactFormatError(
                f"{source}: the OpenVINO graph takes input(s) {', '.join(unknown)} this "
                "runner cannot feed (it feeds input_ids, attention_mask, token_type_ids)"
            )
        self._outputs: dict[str, Any] = {}
        rank3 = []
        for port in compiled.outputs:
            name = _port_name(port)
            if name in KNOWN_OUTPUTS and name not in self._outputs:
                self._outputs[name] = port
            if port.get_partial_shape().rank.is_static and port.get_partial_shape().rank == 3:
                rank3.append(port)
        if "last_hidden_state" not in self._outputs and len(rank3) == 1:
            # An unnamed lone token-level output (a graph saved with numbered tensors).
            self._outputs["last_hidden_state"] = rank3[0]
        if "last_hidden_state" not in self._outputs and "token_embeddings" in self._outputs:
            self._outputs["last_hidden_state"] = self._outputs["token_embeddings"]
        # A graph that pools inside (Spark NLP's Nomic: sentence_embedding [B, H] only) has
        # no token states; the model then uses its sentence vector as is.
        if "last_hidden_state" not in self._outputs and "sentence_embedding" not in self._outputs:
            names = ", ".join(sorted(_port_name(p) for p in compiled.outputs))
            raise ArtifactFormatError(
                f"{source}: the OpenVINO graph has no last_hidden_state output (outputs: "
                f"{names}); expected the token-level hidden states of a transformer "
                "(or a pooled sentence_embedding)"
            )
        self.inputs: tuple[str, ...] = tuple(n for n in KNOWN_INPUTS if n in self._inputs)
        self.outputs: tuple[str, ...] = tuple(n for n in KNOWN_OUTPUTS if n in self._outputs)
        self.hidden_size = self._hidden_size()

    def _request(self) -> Any:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        return request

    def _hidden_size(self) -> int:
        name = "last_hidden_state" if "last_hidden_state" in self._outputs else "sentence_embedding"
        shape = self._outputs[name].get_partial_shape()
        dim = shape[shape.rank.get_length() - 1] if shape.rank.is_static else None
        if dim is not None and dim.is_static:
            return int(dim.get_length())
        # A graph with a dynamic feature axis: ask it once, with a one-row probe.
        ids = np.zeros((1, 2), dtype=np.int64)
        return int(self(ids, np.ones_like(ids))[name].shape[-1])

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        ids = np.asarray(input_ids)
        given = {
            "input_ids": ids,
            "attention_mask": np.asarray(attention_mask),
            "token_type_ids": np.zeros_like(ids)
            if token_type_ids is None
            else np.asarray(token_type_ids),
        }
        feed = {
            port: np.ascontiguousarray(given[name], dtype=kind)
            for name, (port, kind) in self._inputs.items()
        }
        try:
            # share_outputs=False: the arrays are copies, not views the next call overwrites.
            result = self._request().infer(feed, share_inputs=True, share_outputs=False)
        except RuntimeError as exc:
            raise ArtifactFormatError(
                f"{self.source}: the OpenVINO graph rejected a batch of shape "
                f"{tuple(ids.shape)} ({str(exc).strip().splitlines()[0]})"
            ) from None
        return {
            name: np.asarray(result[port], dtype=np.float32) for name, port in self._outputs.items()
        }

    def __repr__(self) -> str:
        return f"OpenVinoRunner({self.source!r}, precision={self.precision!r})"


def compile_config(threads: int | None, precision: str) -> dict[str, str]:
    """The CPU plugin properties :func:`open_openvino` compiles with."""
    config = {
        "INFERENCE_PRECISION_HINT": precision,
        # One request at a time, the whole batch in it: latency mode, no request streams.
        "PERFORMANCE_HINT": "LATENCY",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = str(int(threads))
    return config


def open_openvino(
    engine_file: Path,
    family: Family | None = None,
    *,
    threads: int | None = None,
    precision: str = "f32",
    unpacked: Path | None = None,
) -> OpenVinoRunner:
    """The runner of a Spark NLP ``*_openvino`` engine file (see the module docstring).

    ``family`` names the annotator in messages; ``threads``: CPU threads for inference
    (default: OpenVINO's, one per physical core); ``precision``: ``"f32"`` (default,
    exact) or ``"bf16"`` (lossy; fast only on CPUs with native bf16); ``unpacked``: the
    engine's members already inflated (:mod:`~modelhub.loaders.sparknlp.prepared`)."""
    engine_file = Path(engine_file)
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {', '.join(PRECISIONS)}")
    ov = _import_openvino(engine_file)
    files: tuple[Path, Path] | None = None
    xml = weights = b""
    with open_engine(engine_file, unpacked) as zf:
        ir = find_ir(zf, engine_file)
        if isinstance(zf, UnpackedEngine):
            # prepared files: OpenVINO maps the weights itself rather than a copy in memory
            files = (zf.file(ir.xml), zf.file(ir.bin))
        else:
            xml, weights = zf.read(ir.xml), zf.read(ir.bin)
    what = f"{family.annotator} " if family is not None else ""
    source = str(ir.xml)
    core = ov.Core()
    try:
        if files is not None:
            model = core.read_model(str(files[0]), str(files[1]))
        else:
            model = core.read_model(
                model=xml, weights=ov.Tensor(np.frombuffer(weights, dtype=np.uint8))
            )
    except RuntimeError as exc:
        raise ArtifactFormatError(
            f"{source}: OpenVINO cannot read this {what}graph ({str(exc).strip().splitlines()[0]})"
        ) from None
    del xml
    try:
        compiled = core.compile_model(model, "CPU", compile_config(threads, precision))
    except RuntimeError as exc:
        raise ArtifactFormatError(
            f"{source}: OpenVINO cannot compile this {what}graph for the CPU "
            f"({str(exc).strip().splitlines()[0]})"
        ) from None
    return OpenVinoRunner(
        compiled, source=source, keep=weights, threads=threads, precision=precision
    )


__all__ = ["ENGINE", "KNOWN_OUTPUTS", "IRMembers", "OpenVinoRunner", "find_ir", "open_openvino"]
