"""The ONNX engine of Spark NLP BERT zips: an onnxruntime session behind a torch-like
``forward`` (so the shared BERT embedding code drives it), and the graph's weights under
transformers ``BertModel`` names for ``modelhub convert``.

onnxruntime, onnx and torch are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from modelhub.errors import ArtifactFormatError

log = logging.getLogger(__name__)

TOKEN_OUTPUT = "last_hidden_state"
SENTENCE_OUTPUT = "pooler_output"
_REQUIRED_INPUTS = ("input_ids", "attention_mask")


class OnnxBert:
    """A BERT graph run by onnxruntime: an :class:`~modelhub.loaders.model.Encoder` (numpy
    ids in, ``last_hidden_state`` out), and ``run`` for any named output (``pooler_output``)."""

    def __init__(
        self, path: Path | bytes, *, num_threads: int | None = None, source: str | None = None
    ) -> None:
        """``path``: the graph's file, or its bytes (read from the engine zip, never
        extracted; ``source`` then names it in messages)."""
        import onnxruntime as ort

        self.path = Path(source if source is not None or isinstance(path, bytes) else path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if num_threads:
            options.intra_op_num_threads = num_threads
        try:
            self.session = ort.InferenceSession(
                path if isinstance(path, bytes) else str(path),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:
            raise ArtifactFormatError(
                f"{self.path}: onnxruntime cannot load this graph ({exc})"
            ) from None
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        missing = [n for n in _REQUIRED_INPUTS if n not in self.inputs]
        if missing:
            raise ArtifactFormatError(
                f"{self.path}: the ONNX graph lacks input(s) {', '.join(missing)} "
                f"(has {', '.join(self.inputs)}; expected input_ids, attention_mask, "
                "token_type_ids as int64)"
            )
        shape = self.session.get_outputs()[0].shape
        self.hidden_size = shape[-1] if shape and isinstance(shape[-1], int) else None
        self.config = SimpleNamespace(hidden_size=self.hidden_size)
        self.uses_token_types = "token_type_ids" in self.inputs

    def has_output(self, name: str) -> bool:
        return name in self.outputs

    def run(self, output: str, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        if output not in self.outputs:
            raise ArtifactFormatError(
                f"{self.path}: the ONNX graph has no output {output!r} "
                f"(outputs: {', '.join(self.outputs)})"
            )
        feed = {
            "input_ids": input_ids.astype(np.int64, copy=False),
            "attention_mask": attention_mask.astype(np.int64, copy=False),
        }
        if self.uses_token_types:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return np.asarray(self.session.run([output], feed)[0], dtype=np.float32)

    # The Encoder face (modelhub.loaders.model) used by the shared BERT code.
    name = "onnx"
    device = "cpu"
    dtype = "float32"

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.run(TOKEN_OUTPUT, input_ids, attention_mask)


# -- weights out of the graph ------------------------------------------------------------

_MODULE = re.compile(r"(?:^|[./])((?:embeddings|encoder|pooler)[./].*)$")


def _hf_key(name: str) -> str | None:
    m = _MODULE.search(name)
    return m.group(1).replace("/", ".") if m else None


def onnx_state_dict(
    path: Path | bytes, source: str | None = None
) -> tuple[dict[str, np.ndarray], int | None]:
    """transformers ``BertModel`` weights found in a torch-exported BERT graph, plus the
    head size when the graph's attention scaling constant gives it away.

    Named initializers (``embeddings.*``, biases, LayerNorms) keep their module paths under
    any prefix; linear weights, which exporters rename (``onnx::MatMul_123``), are found
    through the ``MatMul`` node that uses them (``/encoder/layer.0/.../query/MatMul``) and
    transposed back to torch's ``[out, in]``."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ArtifactFormatError(
            "reading weights out of an ONNX graph needs the 'onnx' package (pip install onnx)"
        ) from exc
    where = source or (str(path) if not isinstance(path, bytes) else "the ONNX graph")
    try:
        if isinstance(path, bytes):
            model = onnx.load_model_from_string(path)
        else:
            model = onnx.load(str(path))
    except Exception as exc:
        raise ArtifactFormatError(f"{where}: not a readable ONNX model ({exc})") from None
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    consts: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
        elif node.op_type == "Identity" and node.input:
            # Equal tensors are exported once and aliased through Identity nodes.
            source_name = node.input[0]
            if source_name in inits:
                consts[node.output[0]] = numpy_helper.to_array(inits[source_name])
            elif source_name in consts:
                consts[node.output[0]] = consts[source_name]

    def const(name: str) -> np.ndarray | None:
        if name in inits:
            return numpy_helper.to_array(inits[name])
        return consts.get(name)

    # Node paths first: exporters rename linear weights (onnx::MatMul_12) and share one
    # initializer among equal tensors (zero biases, LayerNorms of ones), so the consuming
    # node's module path is what says where a tensor belongs.
    state: dict[str, np.ndarray] = {}
    scales: list[tuple[str, float]] = []
    for node in graph.node:
        module = _hf_key(node.name.rsplit("/", 1)[0] + "/")
        module = module.rstrip(".") if module else None
        inputs = list(node.input)
        if module and node.op_type == "MatMul" and len(inputs) == 2:
            w = const(inputs[1])
            if w is not None and w.ndim == 2:
                state[f"{module}.weight"] = w.T
        elif module and node.op_type == "Add" and re.search(r"(query|key|value|dense)$", module):
            for inp in inputs:
                b = const(inp)
                if b is not None and b.ndim == 1:
                    state[f"{module}.bias"] = b
        elif module and node.op_type == "LayerNormalization" and len(inputs) >= 3:
            w, b = const(inputs[1]), const(inputs[2])
            if w is not None and b is not None:
                state[f"{module}.weight"], state[f"{module}.bias"] = w, b
        elif module and node.op_type == "Gather" and module.endswith("_embeddings"):
            w = const(inputs[0])
            if w is not None and w.ndim == 2:
                state[f"{module}.weight"] = w
        if re.search(r"layer\.0/attention/self/(Mul|Div)", node.name):
            for inp in inputs:
                value = const(inp)
                if value is not None and value.size == 1:
                    scales.append((node.op_type, float(value.reshape(()))))
    # Then module-path names of initializers and constants (pooler, unfused LayerNorms).
    named = [(n, numpy_helper.to_array(i)) for n, i in inits.items()] + list(consts.items())
    for name, array in named:
        key = _hf_key(name)
        if key and key.endswith((".weight", ".bias")):
            state.setdefault(key, array)
    for key, value in state.items():
        state[key] = np.ascontiguousarray(value, dtype=np.float32)
    return state, _head_size(scales)


def _head_size(scales: list[tuple[str, float]]) -> int | None:
    """Attention scales scores by 1/sqrt(d): a ``Div`` by sqrt(d), one ``Mul`` by d**-0.5,
    or (transformers' SDPA export) the same ``Mul`` by d**-0.25 on queries and on keys."""
    for op, c in scales:
        if c <= 0:
            continue
        if op == "Div":
            d = c * c
        else:
            same = sum(1 for o, v in scales if o == "Mul" and abs(v - c) < 1e-9)
            d = c**-4 if same >= 2 else c**-2
        if d >= 1 and abs(d - round(d)) < 1e-3:
            return round(d)
    return None


def initializer_shape(
    path: Path | bytes, suffix: str, source: str | None = None
) -> tuple[int, ...] | None:
    """The dims of the first initializer whose name ends with ``suffix``, read straight from
    the ONNX protobuf (no onnx package; the tensor bytes are skipped, not copied).
    ``path``: the graph's file or its bytes (``source`` names them in messages)."""
    from modelhub.loaders.sparknlp.protowire import fields, packed_varints

    source = source or (str(path) if not isinstance(path, bytes) else "the ONNX graph")
    try:
        data = memoryview(path if isinstance(path, bytes) else Path(path).read_bytes())
    except OSError as exc:
        raise ArtifactFormatError(f"{source}: cannot read the ONNX model ({exc})") from None
    target = suffix.encode("utf-8")
    for number, _w, graph in fields(data, source):  # ModelProto
        if number != 7 or isinstance(graph, int):
            continue
        for n2, _w2, tensor in fields(graph, source):  # GraphProto
            if n2 != 5 or isinstance(tensor, int):
                continue
            dims: list[int] = []
            name = b""
            for n3, w3, v3 in fields(tensor, source):  # TensorProto
                if n3 == 1 and isinstance(v3, int):
                    dims.append(v3)
                elif n3 == 1 and w3 == 2 and not isinstance(v3, int):
                    dims.extend(packed_varints(bytes(v3), source))
                elif n3 == 8 and not isinstance(v3, int):
                    name = bytes(v3)
            if name.endswith(target):
                return tuple(dims)
    return None
