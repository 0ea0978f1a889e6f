"""Loaded Spark NLP BERT models. Both engines end up in the shared
:class:`~modelhub.loaders.bert_model.BertEmbeddingsModel` (same ``embed`` /
``embed_sentences``, word-level tokens, first word piece per token): the TensorFlow weights
are mapped onto a torch ``BertModel``; the ONNX graph runs in onnxruntime behind a torch-like
module. Spark NLP's parameters set the defaults: ``caseSensitive`` (lowercasing) and
``maxSentenceLength`` (truncation, ``[CLS]``/``[SEP]`` included)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modelhub.cards.record import ModelCard
from modelhub.errors import ArtifactFormatError
from modelhub.loaders.bert_model import BertEmbeddingsModel, _check_texts, _l2_normalize
from modelhub.loaders.engines.torch_engine import TorchEncoder
from modelhub.loaders.hf import HFDirectory
from modelhub.loaders.model import Progress
from modelhub.loaders.runtime import check_device, check_dtype, resolve_device, resolve_dtype
from modelhub.loaders.sparknlp.artifact import SparkNlpBert, check_params, open_artifact
from modelhub.loaders.sparknlp.conversion import (
    check_vocab_size,
    engine_model_member,
    read_weights,
    wordpiece_tokenizer,
)
from modelhub.loaders.sparknlp.onnx_engine import SENTENCE_OUTPUT, OnnxBert, initializer_shape
from modelhub.loaders.sparknlp.prepared import (
    Prepared,
    damaged,
    load_state,
    open_engine,
    plain_config,
    prepare,
    save_state,
)

log = logging.getLogger(__name__)


class SparkNlpBertModel(BertEmbeddingsModel):
    """A Spark NLP BERT zip, loaded. ``sparknlp`` is the artifact (metadata, engine);
    ``engine`` is ``"onnx"`` or ``"tensorflow"``."""

    sparknlp: SparkNlpBert
    engine: str

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            path=str(self.sparknlp.root),
            engine=self.engine,
            annotator=self.sparknlp.metadata.simple_name,
            case_sensitive=self.sparknlp.case_sensitive,
        )
        return out

    def __repr__(self) -> str:
        return f"SparkNlpBertModel({self.name!r}, engine={self.engine}, dim={self.dim})"

    def _encode_texts(
        self,
        texts: list[str],
        *,
        batch_size: int,
        output_value: str,
        progress: Progress,
    ) -> np.ndarray | list[np.ndarray]:
        """Spark NLP's semantics: a ``BertSentenceEmbeddings`` zip's sentence
        vector is its pooler output; a token zip's is the mean of its states."""
        if output_value != "sentence_embedding" or not self.sparknlp.sentence:
            return super()._encode_texts(
                texts, batch_size=batch_size, output_value=output_value, progress=progress
            )
        out = self.embed_sentences(texts, pooling="pooler", batch_size=batch_size, normalize=False)
        progress(len(texts))
        return out

    def embed_sentences(  # type: ignore[override]
        self,
        texts: Sequence[str],
        *,
        pooling: str | None = None,
        batch_size: int | None = None,
        max_length: int | None = None,
        normalize: bool | None = None,
        overflow: Any = None,
    ) -> np.ndarray:
        """One vector per text. ``BertSentenceEmbeddings`` zips default to Spark NLP's
        sentence vector, the pooler output (``pooling="pooler"``); token zips to ``"mean"``."""
        if pooling is None:
            pooling = "pooler" if self.sparknlp.sentence else "mean"
        if pooling != "pooler":
            return super().embed_sentences(
                texts,
                pooling=pooling,  # type: ignore[arg-type]
                batch_size=batch_size,
                max_length=max_length,
                normalize=normalize,
                overflow=overflow,
            )
        items = _check_texts(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        ml, bs, norm, ov = self._options(max_length, batch_size, normalize, overflow)
        if ov == "window":
            raise ValueError(
                "overflow='window' does not apply to pooling='pooler' (the pooler gives one "
                "vector per sequence, and windows of a text cannot be pooled into one); use "
                "overflow='truncate'"
            )
        encs = self._encode(items)
        # one sequence per text, cut to max_length with the shared warning
        seqs = self._sequences([len(e.ids) for e in encs], ml, "truncate", keep_empty=True)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        # longest first, as the token path and sentence-transformers batch: less padding
        order = sorted(seqs, key=lambda q: q.start - q.stop)
        for start in range(0, len(order), bs):
            chunk = order[start : start + bs]
            rows = [
                self._prefix + list(encs[q.text].ids[q.start : q.stop]) + self._suffix
                for q in chunk
            ]
            width = max(len(r) for r in rows)
            ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for j, r in enumerate(rows):
                ids[j, : len(r)] = r
                mask[j, : len(r)] = 1
            if isinstance(self.model, OnnxBert):
                pooled = self.model.run(SENTENCE_OUTPUT, ids, mask)
            else:
                with contextlib.ExitStack() as stack:
                    stack.enter_context(torch.inference_mode())
                    if self.dtype != torch.float32:
                        stack.enter_context(
                            torch.autocast(device_type=self.device.type, dtype=self.dtype)
                        )
                    result = self.model(
                        input_ids=torch.from_numpy(ids).to(self.device),
                        attention_mask=torch.from_numpy(mask).to(self.device),
                        token_type_ids=torch.zeros((len(rows), width), dtype=torch.long).to(
                            self.device
                        ),
                    )
                    pooled = result.pooler_output.float().cpu().numpy()
            out[[q.text for q in chunk]] = pooled
        return _l2_normalize(out) if norm else out


def _default_max_length(art: SparkNlpBert, limit: int, max_length: int | None) -> int:
    if max_length is not None:
        return max_length
    chosen = art.max_sentence_length or limit
    if chosen > limit:
        log.warning(
            "%s: maxSentenceLength %d exceeds the model's %d positions; using %d",
            art.root,
            chosen,
            limit,
            limit,
        )
        chosen = limit
    return chosen


def _onnx_config(art: SparkNlpBert, graph: Path | bytes, vocab_size: int | None) -> dict[str, Any]:
    """The ``BertConfig`` of an ONNX graph, from its initializers' shapes; the vocabulary
    is checked against it unless ``vocab_size`` is None."""
    if isinstance(graph, Path):  # read once for the three lookups
        graph = graph.read_bytes()
    shapes = {
        key: initializer_shape(graph, f"{key}_embeddings.weight")
        for key in ("word", "position", "token_type")
    }
    word = shapes["word"]
    if not word or len(word) != 2:
        raise ArtifactFormatError(
            f"{art.engine_file}: no word embedding matrix (*word_embeddings.weight) in the graph"
        )
    if vocab_size is not None:
        check_vocab_size(art, vocab_size, int(word[0]), str(art.engine_file))
    position = shapes["position"]
    types = shapes["token_type"]
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": int(word[0]),
        "hidden_size": int(word[1]),
        "max_position_embeddings": int(position[0]) if position else 512,
        "type_vocab_size": int(types[0]) if types else 2,
        "pad_token_id": 0,
    }


def _prepare(art: SparkNlpBert, derived_dir: Path | None, heads: int | None) -> Prepared | None:
    """The zip prepared once (None: no derived folder, or it cannot be written)."""
    if derived_dir is None:
        return None
    if art.engine != "tensorflow":

        def describe(folder: Path) -> dict[str, Any]:
            graphs = [p for p in folder.rglob("*") if p.is_file()]
            # the config read once from the graph's shapes (checked against the vocabulary
            # on every load); only for a graph that is the engine's one member
            return {"config": _onnx_config(art, graphs[0], None)} if len(graphs) == 1 else {}

        return prepare(art, derived_dir, describe=describe)

    def convert(folder: Path) -> None:
        state, config = read_weights(art, num_attention_heads=heads)
        save_state(folder, state, {"config": config})

    return prepare(art, derived_dir, convert=convert, variant=f"heads={heads}")


def _checked_config(config: Any, prepared: Prepared) -> dict[str, Any]:
    """The BERT config a prepared folder kept, checked as plain JSON data."""
    if not plain_config(config):
        raise damaged(prepared.folder, "not a converted BERT engine's description")
    return config


def load(
    path: Path,
    record: ModelCard | None = None,
    *,
    device: Any = "auto",
    dtype: Any = "auto",
    max_length: int | None = None,
    batch_size: int = 32,
    normalize: bool = False,
    overflow: Any = "truncate",
    stride: int | None = None,
    num_threads: int | None = None,
    num_attention_heads: int | None = None,
    derived_dir: Path | None = None,
) -> SparkNlpBertModel:
    """Load the zip at ``path``. The engine file is read in place under the archive caps,
    the TensorFlow weights go straight into a torch ``BertModel`` and the tokenizer is
    built in memory. ``derived_dir``: where the first load keeps the engine and vocabulary
    prepared for the next ones (:mod:`~modelhub.loaders.sparknlp.prepared`: the ONNX graph
    inflated, the TensorFlow weights converted); None writes nothing."""
    art = open_artifact(Path(path))
    check_device(device)
    check_dtype(dtype)
    prepared = _prepare(art, derived_dir, num_attention_heads)
    vocab = art.vocabulary() if prepared is None else (prepared.vocabulary or [])
    if art.engine == "onnx":
        if device not in (None, "auto", "cpu"):
            log.warning("the ONNX engine runs on the CPU here; device=%r is ignored", device)
        graph: Path | bytes
        if prepared is not None and prepared.plain_graph is not None:
            graph, source = prepared.plain_graph, f"{art.engine_file}:{prepared.plain_graph.name}"
        else:
            # Read from the engine zip in place (or its prepared members), under the caps.
            unpacked = prepared.engine if prepared is not None else None
            with open_engine(art.engine_file, unpacked) as engine:
                member = engine_model_member(engine, art.engine_file)
                graph, source = engine.read(member), str(member)
        known = prepared.described.get("config") if prepared is not None else None
        if isinstance(known, dict) and prepared is not None and prepared.plain_graph is not None:
            config = _checked_config(known, prepared)
            check_vocab_size(art, len(vocab), int(config["vocab_size"]), str(art.engine_file))
        else:
            config = _onnx_config(art, graph, len(vocab))
        encoder: Any = OnnxBert(graph, num_threads=num_threads, source=source)
        del graph
        check_params(art, int(config["hidden_size"]), record.artifact if record else None)
    else:
        converted = load_state(prepared.engine) if prepared is not None else None
        if converted is not None and prepared is not None:
            state, config = converted[0], _checked_config(converted[1].get("config"), prepared)
        else:
            state, config = read_weights(art, num_attention_heads=num_attention_heads)
        check_vocab_size(art, len(vocab), int(config["vocab_size"]), str(art.engine_file))
        check_params(art, int(config["hidden_size"]), record.artifact if record else None)
        encoder = _torch_encoder(art, config, state, device, dtype, num_threads)
        del state
    # The files the shared code inspects live in memory; the "weights" are the engine file.
    hf = HFDirectory(
        root=art.root,
        config=config,
        weights=art.engine_file,
        tokenizer_json=None,
        vocab=None,
        tokenizer_config={"do_lower_case": not art.case_sensitive},
        sentence_config={},
    )
    tokenizer = wordpiece_tokenizer(vocab, lowercase=not art.case_sensitive)._tokenizer
    tokenizer.no_truncation()
    tokenizer.no_padding()
    limit = int(config["max_position_embeddings"])
    model = SparkNlpBertModel(
        hf=hf,
        encoder=encoder,
        tokenizer=tokenizer,
        record=record,
        max_length=_default_max_length(art, limit, max_length),
        batch_size=batch_size,
        normalize=normalize,
        overflow=overflow,
        stride=stride,
    )
    model.sparknlp = art
    model.engine = art.engine
    return model


def _torch_encoder(
    art: SparkNlpBert,
    config: dict[str, Any],
    state: dict[str, np.ndarray],
    device: Any,
    dtype: Any,
    num_threads: int | None,
) -> TorchEncoder:
    """A transformers ``BertModel`` holding the TensorFlow weights, on ``device``. The
    pooler is optional (token graphs have none); any other missing or unexpected weight
    is an error naming the engine file."""
    from transformers import BertConfig, BertModel

    from modelhub.loaders.sparknlp.runners.tensorflow import _no_init

    if num_threads is not None:
        torch.set_num_threads(num_threads)
    dev = resolve_device(device)
    compute = resolve_dtype(dtype, dev)
    pooled = "pooler.dense.weight" in state
    fields = {k: v for k, v in config.items() if k != "sparknlp"}
    # no random initialisation: every weight is loaded right after (hundreds of ms for a
    # MiniLM-sized model, seconds for a base one)
    with _no_init():
        model = BertModel(BertConfig(**fields), add_pooling_layer=pooled).eval()
    tensors = {
        k: v.float()
        if isinstance(v, torch.Tensor)  # a prepared folder's converted weights
        else torch.from_numpy(np.require(v, np.float32, ("C", "W")))
        for k, v in state.items()
    }
    wanted = {k for k in model.state_dict() if not k.endswith("position_ids")}
    missing = sorted(wanted - tensors.keys())
    extra = sorted(tensors.keys() - wanted)
    if missing or extra:
        raise ArtifactFormatError(
            f"{art.engine_file}: the TensorFlow weights do not fit a BertModel "
            f"(missing {missing[:5]}, unexpected {extra[:5]})"
        )
    model.load_state_dict(tensors, strict=False)
    if dev.type != "cpu":
        model.to(dev)
    return TorchEncoder(model, device=dev, compute=compute)
