"""The TensorFlow engine of Spark NLP transformer zips (``*_tensorflow``), run WITHOUT
TensorFlow: the checkpoint's variables are read by
:class:`~modelhub.loaders.sparknlp.tf_checkpoint.Checkpoint`, renamed onto the transformers
torch model of the family (:mod:`.tf_names`), its config inferred from the tensors' shapes
and the GraphDef (:mod:`.tf_config`, :mod:`.tf_graph`), and the model run in torch.

Naming schemes understood (which zips carry which is in :mod:`.tf_names`): Hugging Face TF2
(every family Spark NLP imports from Hugging Face: BERT, DistilBERT, RoBERTa, CamemBERT,
XLM-R, MPNet, E5/BGE/Mxbai/UAE (BERT), Instructor (T5 encoder), ALBERT), TF-Hub ALBERT
(Spark NLP 2.x ``albert_*`` models), original XLNet (Spark NLP 2.x ``xlnet_*`` models) and
original TF1 BERT.

Outputs: ``last_hidden_state``; ``pooler_output`` too where the checkpoint holds the
pooler's weights (the RoBERTa/XLM-R sentence annotators' TF graphs fetch it).

What Spark NLP's TF graphs of the sentence annotators with ``encoder_*`` signature keys (E5,
BGE, MPNet, Mxbai, UAE, Instructor) compute after the encoder is not in Spark NLP's sources.
Their Scala (``ml/ai/E5.scala`` @1db94d21 and @48e0004b, ``ml/ai/BGE.scala`` @14daf855,
``ml/ai/MPNet.scala`` @0898d8ca, ``ml/ai/Instructor.scala``) feeds
``encoder_input_ids``/``encoder_attention_mask`` (Instructor also ``encoder_context_mask``),
fetches the tensor under the ``last_hidden_state`` signature key and cuts it into
``length/batch`` floats per row, with no pooling in Scala: a graph that returns pooled
``[B,H]`` gives sentence vectors, one that returns token states gives each row's flattened
``[T×H]`` matrix (the bug the ONNX path of the same code had, issues #14049/#14066, fixed
for ONNX by PR #14051). The Python that exported those TF graphs is not in Spark NLP's
repository (no TF import notebook for these annotators under
``examples/python/transformers`` in the code index), so which of the two a Models Hub zip
holds cannot be read from sources. This runner therefore gives the encoder's token states
and the model applies the annotator's documented pooling (that of its ONNX path). Variables
the encoder does not use (a Dense head, an MLM head) are logged as a warning naming them, so
a graph with its own head shows up.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families import Family
from modelhub.loaders.sparknlp.prepared import (
    damaged,
    load_state,
    open_engine,
    plain_config,
    save_state,
)
from modelhub.loaders.sparknlp.runners.tf_config import infer_config
from modelhub.loaders.sparknlp.runners.tf_graph import GraphFacts, graph_facts
from modelhub.loaders.sparknlp.runners.tf_names import (
    albert_hub_state_dict,
    hf_state_dict,
    layer_pattern,
    scheme_of,
    variable_names,
    xlnet_state_dict,
)
from modelhub.loaders.sparknlp.tf_checkpoint import Checkpoint, bert_state_dict, find_checkpoint

log = logging.getLogger(__name__)

#: model_type -> the attribute of the TF2 model that holds the base model (its scope name).
_BASE_PREFIX = {
    "bert": "bert",
    "roberta": "roberta",
    "camembert": "roberta",
    "xlm-roberta": "roberta",
    "distilbert": "distilbert",
    "mpnet": "mpnet",
    "albert": "albert",
    "xlnet": "transformer",
    "deberta-v2": "deberta",
    "longformer": "longformer",
    "t5": "encoder_model",  # never present: T5's variables sit right under the model scope
}
#: model types whose graphs take segment ids (fed zeros when the caller gives none).
_TAKES_TYPES = ("bert", "albert", "xlnet")


@dataclass(frozen=True, slots=True)
class _Engine:
    state: dict[str, np.ndarray]
    origin: dict[str, str]  # torch key -> TensorFlow variable name
    facts: GraphFacts
    scheme: str
    model_type: str


def _read_engine(engine_file: Path, family: Family, unpacked: Path | None = None) -> _Engine:
    with open_engine(engine_file, unpacked) as zf:
        files = zf.files()
        index = find_checkpoint(files)
        if index is None:
            raise ArtifactFormatError(
                f"{engine_file}: no TensorFlow checkpoint inside (expected "
                "variables/variables.index and variables/variables.data-*)"
            )
        ckpt = Checkpoint(index, zf.read, getattr(zf, "read_writable", None))
        names = variable_names(ckpt)
        scheme = scheme_of(names)
        graphs = sorted(p for p in files if p.name == "saved_model.pb")
        graph = zf.read(graphs[0]) if graphs else b""
        model_type = family.hf_model_type
        origin: dict[str, str] = {}
        if scheme == "albert-hub":
            model_type = "albert"
            state = albert_hub_state_dict(ckpt, names, origin)
        elif scheme == "xlnet-orig":
            model_type = "xlnet"
            state = xlnet_state_dict(ckpt, names, origin)
        elif scheme == "bert-tf1":
            if model_type != "bert":
                raise ArtifactFormatError(
                    f"{engine_file}: original TF1 BERT variables in a {family.annotator} zip "
                    f"(expected a {model_type} model)"
                )
            state = bert_state_dict(ckpt)
        elif scheme == "hf":
            if model_type not in _BASE_PREFIX:
                raise ArtifactFormatError(
                    f"{engine_file}: TensorFlow engines of {family.annotator} "
                    f"({model_type or 'no transformers model type'}) are not supported; "
                    f"supported: {', '.join(sorted(_BASE_PREFIX))}"
                )
            prefix = _BASE_PREFIX[model_type]
            state = hf_state_dict(ckpt, names, prefix, _keys(model_type), origin)
        else:
            shown = ", ".join(sorted(names)[:20]) or "(no numeric tensors)"
            raise ArtifactFormatError(
                f"{engine_file}: unknown variable naming for {family.annotator} (expected Hugging "
                "Face TF2 names like tf_bert_model/bert/encoder/layer_._0/..., TF-Hub ALBERT or "
                f"original TF1 BERT names); found: {shown}"
            )
    unused = sorted(set(names) - set(origin.values()))
    if unused and scheme != "bert-tf1":
        shown = ", ".join(unused[:10]) + (
            f", ... ({len(unused)} in all)" if len(unused) > 10 else ""
        )
        log.warning("%s: variables the %s encoder does not use: %s", engine_file, model_type, shown)
    hidden = _hidden(state, engine_file)
    facts = graph_facts(graph, f"{engine_file}!saved_model.pb", hidden) if graph else None
    facts = facts or GraphFacts(None, None, None, None, None, frozenset())
    return _Engine(state, origin, facts, scheme, model_type)


def _hidden(state: dict[str, np.ndarray], engine_file: Path) -> int:
    for key in (
        "encoder.embedding_hidden_mapping_in.weight",  # ALBERT: rows = hidden size
        "embeddings.word_embeddings.weight",
        "word_embedding.weight",  # XLNet
        "shared.weight",
    ):
        if key in state:
            array = state[key]
            return int(array.shape[0] if key.startswith("encoder.") else array.shape[1])
    raise ArtifactFormatError(
        f"{engine_file}: the checkpoint has no word embedding matrix the runner recognises"
    )


def _no_init() -> Any:
    """transformers' switch that skips random initialisation (every weight is loaded right
    after; for a base-size model it saves seconds per load)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers 4.x
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:
            return contextlib.nullcontext()
    return no_init_weights()


def _new_model(config: Any) -> Any:
    import transformers

    with _no_init():
        if config.model_type == "t5":
            return transformers.T5EncoderModel(config)
        return transformers.AutoModel.from_config(config)


_KEYS_CACHE: dict[str, set[str]] = {}


def _keys(model_type: str) -> set[str]:
    """The ``state_dict`` keys of a tiny model of ``model_type``, layer numbers written
    ``#`` (names only; the real sizes and layer count come from the checkpoint)."""
    if model_type not in _KEYS_CACHE:
        import transformers

        tiny: dict[str, Any] = {
            "distilbert": {"dim": 8, "n_layers": 2, "n_heads": 1, "hidden_dim": 8},
            "t5": {"d_model": 8, "d_kv": 8, "d_ff": 8, "num_layers": 2, "num_heads": 1},
            "xlnet": {"d_model": 8, "n_layer": 2, "n_head": 1, "d_head": 8, "d_inner": 8},
        }.get(
            model_type,
            {
                "hidden_size": 8,
                "num_hidden_layers": 2,
                "num_attention_heads": 1,
                "intermediate_size": 8,
            },
        )
        if model_type == "deberta-v2":  # every optional part, so that all names are known
            tiny.update(
                relative_attention=True,
                norm_rel_ebd="layer_norm",
                share_att_key=False,
                pos_att_type=["p2c", "c2p"],
                conv_kernel_size=3,
                position_biased_input=True,
                type_vocab_size=2,
                position_buckets=4,
            )
        config = transformers.AutoConfig.for_model(model_type, vocab_size=8, **tiny)
        if model_type == "t5":
            config.feed_forward_proj = "gated-gelu"
            gated = _new_model(config).state_dict().keys()
            config.feed_forward_proj = "relu"
            keys = set(gated) | set(_new_model(config).state_dict().keys())
        else:
            keys = set(_new_model(config).state_dict().keys())
        _KEYS_CACHE[model_type] = {layer_pattern(k) for k in keys}
    return _KEYS_CACHE[model_type]


def engine_config(engine: _Engine, engine_file: Path) -> dict[str, Any]:
    """``AutoConfig.for_model`` keyword arguments for the engine's model."""
    return infer_config(engine.model_type, engine.state, engine.facts, str(engine_file))


def _build(engine: _Engine, engine_file: Path, cfg: dict[str, Any] | None = None) -> Any:
    """The torch model of ``engine`` (config ``cfg``, inferred when None), its weights
    checked against the model's own names and shapes."""
    import torch
    import transformers

    source = str(engine_file)
    if cfg is None:
        cfg = engine_config(engine, engine_file)
    config = transformers.AutoConfig.for_model(engine.model_type, **cfg)
    model = _new_model(config)
    model.eval()
    state = dict(engine.state)
    if engine.model_type == "t5":
        state.setdefault("encoder.embed_tokens.weight", state["shared.weight"])
    target = model.state_dict()
    for key, array in state.items():
        name = engine.origin.get(key, key)
        if key not in target:
            raise ArtifactFormatError(
                f"{source}: TensorFlow variable {name!r} ({key}) has no place in the "
                f"{engine.model_type} model inferred from the checkpoint"
            )
        if tuple(target[key].shape) != tuple(array.shape):
            raise ArtifactFormatError(
                f"{source}: TensorFlow variable {name!r} ({key}) has shape "
                f"{list(array.shape)}; the {engine.model_type} model inferred from the "
                f"checkpoint needs {list(target[key].shape)} (damaged or mixed-up engine file)"
            )
    persistent = {k for k, _ in model.named_parameters()}
    # not run at inference: a pooler the token graph lacks, XLNet's mask embedding (used
    # only with target mappings)
    optional = ("pooler.", "mask_emb")
    missing = sorted(k for k in persistent - set(state) if not k.startswith(optional))
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise ArtifactFormatError(
            f"{source}: {len(missing)} {engine.model_type} weight(s) not found in the "
            f"TensorFlow checkpoint (damaged engine file, or not a {engine.model_type} "
            f"model): {shown}"
        )
    # unloaded parameters (only a pooler the graph lacks) hold uninitialised memory: the
    # runner never outputs them
    # A tensor (a prepared folder's converted state) or a writable array (copied by a
    # transpose) becomes the parameter itself; a read-only one (a view into the zip's
    # bytes) is copied once.
    tensors = {
        k: v
        if isinstance(v, torch.Tensor)
        else torch.from_numpy(v)
        if v.flags.writeable
        else torch.tensor(v)
        for k, v in state.items()
    }
    model.load_state_dict(tensors, strict=False, assign=True)
    return model


class TensorflowRunner:
    """A Spark NLP TensorFlow engine's weights in the transformers torch model (the
    :class:`~modelhub.loaders.sparknlp.runners.Runner` face)."""

    engine = "tensorflow"

    def __init__(self, model: Any, source: str, engine: _Engine, threads: int | None) -> None:
        self.model = model
        self.source = source
        self.scheme = engine.scheme
        self.model_type = engine.model_type
        self.threads = threads
        self.inputs: tuple[str, ...] = ("input_ids", "attention_mask")
        if engine.model_type in _TAKES_TYPES:
            self.inputs += ("token_type_ids",)
        self.outputs: tuple[str, ...] = ("last_hidden_state",)
        if any(k.startswith("pooler.") for k in engine.state):
            self.outputs += ("pooler_output",)
        config = model.config
        self.hidden_size = int(getattr(config, "hidden_size", 0) or config.d_model)

    def __call__(
        self,
        input_ids: np.ndarray,
        attention_mask: np.ndarray,
        token_type_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        import torch

        if self.threads:
            torch.set_num_threads(self.threads)
        feed: dict[str, Any] = {
            "input_ids": torch.as_tensor(np.asarray(input_ids, dtype=np.int64)),
            "attention_mask": torch.as_tensor(np.asarray(attention_mask, dtype=np.int64)),
        }
        if "token_type_ids" in self.inputs:
            types = np.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            feed["token_type_ids"] = torch.as_tensor(np.asarray(types, dtype=np.int64))
        try:
            with torch.inference_mode():
                out = self.model(**feed)
        except (RuntimeError, IndexError, ValueError) as exc:
            # e.g. a maxSentenceLength past the model's position table
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ArtifactFormatError(
                f"{self.source}: the {self.model_type} model rejected a batch of shape "
                f"{tuple(np.shape(input_ids))} ({first[:500]})"
            ) from None
        result = {"last_hidden_state": out.last_hidden_state.float().numpy()}
        if "pooler_output" in self.outputs:
            result["pooler_output"] = out.pooler_output.float().numpy()
        return result

    def __repr__(self) -> str:
        return (
            f"TensorflowRunner({self.source!r}, {self.model_type}, scheme={self.scheme}, "
            f"outputs={self.outputs})"
        )


# --- converted once, for a prepared folder (modelhub.loaders.sparknlp.prepared): the
# weights under transformers' names, already transposed, and the config the GraphDef's
# facts settle, so that a later load parses no checkpoint, object graph or GraphDef. What
# is read back is data: a known model type, plain JSON config values, and weights that go
# through _build's checks (every name and shape against the model) on every load.


def write_converted(engine_file: Path, family: Family, target: Path) -> None:
    """Reads the engine zip (checked as a load from the zip is) and writes its converted
    weights and config into the empty folder ``target``."""
    need_torch(engine_file)
    engine = _read_engine(engine_file, family)
    info = {
        "model_type": engine.model_type,
        "scheme": engine.scheme,
        "config": engine_config(engine, engine_file),
        "origin": engine.origin,
    }
    save_state(target, engine.state, info)


def read_converted(folder: Path, engine_file: Path) -> tuple[_Engine, dict[str, Any]] | None:
    """The engine and config a prepared folder holds, or None when it holds the zip's
    members instead. A description that is not what :func:`write_converted` writes is an
    :class:`~modelhub.errors.ArtifactFormatError` naming the file."""
    found = load_state(folder)
    if found is None:
        return None
    state, info = found
    cfg, origin, scheme = info.get("config"), info.get("origin"), info.get("scheme")
    model_type = info.get("model_type")
    if (
        model_type not in _BASE_PREFIX
        or not plain_config(cfg)
        or not isinstance(origin, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in origin.items())
        or not isinstance(scheme, str)
    ):
        raise damaged(folder, "not a converted TensorFlow engine's description")
    facts = GraphFacts(None, None, None, None, None, frozenset())
    return _Engine(state, origin, facts, scheme, str(model_type)), cfg


def need_torch(engine_file: Path) -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise ArtifactFormatError(
            f"{engine_file}: running a TensorFlow engine needs torch and transformers "
            f"({exc.name} is missing; pip install 'modelhub[torch]')"
        ) from None


def open_tensorflow(
    engine_file: Path,
    family: Family,
    *,
    root: Path,
    threads: int | None = None,
    unpacked: Path | None = None,
) -> TensorflowRunner:
    """The runner of a ``*_tensorflow`` engine zip of the model folder ``root``;
    ``unpacked``: its members already inflated (:mod:`~modelhub.loaders.sparknlp.prepared`)."""
    engine_file = Path(engine_file).absolute()  # SafeZip names members under an absolute root
    need_torch(engine_file)
    converted = read_converted(unpacked, engine_file) if unpacked is not None else None
    if converted is not None:
        engine, cfg = converted
        model = _build(engine, engine_file, cfg)
    else:
        engine = _read_engine(engine_file, family, unpacked)
        model = _build(engine, engine_file)
    log.info(
        "%s: %s weights (%s names) running in torch", engine_file, engine.model_type, engine.scheme
    )
    return TensorflowRunner(model, str(engine_file), engine, threads)


__all__ = ["TensorflowRunner", "open_tensorflow", "read_converted", "write_converted"]
