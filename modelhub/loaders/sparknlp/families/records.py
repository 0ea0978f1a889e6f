"""The record types of :mod:`modelhub.loaders.sparknlp.families` (one row per Spark NLP
embeddings annotator) and the named rules its rows share; the rows themselves live in
:mod:`modelhub.loaders.sparknlp.families.table`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["transformer", "unsupported", "static"]
Level = Literal["word", "sentence"]

#: engine -> the suffix of its file in a model folder (matched case-insensitively).
ENGINE_SUFFIXES: dict[str, str] = {
    "tensorflow": "_tensorflow",
    "onnx": "_onnx",
    "openvino": "_openvino",
}
SPP_SUFFIX = "_spp"

# Token-vector rules (word level, research §1.6).
FIRST_PIECE_BY_OFFSET = "first piece whose begin equals the token's begin"
FIRST_PIECE_WORD_START = "first piece whose begin equals the token's begin and isWordStart"

# Pooling rules (sentence level, research §1.6 LinAlg).
POOLER_OUTPUT = "pooler_output of the graph"
MEAN_L2 = "masked mean (LinAlg.avgPooling) then L2"
IN_GRAPH = "pooled inside the exported graph; used as-is"
#: E5/BGE/MPNet/Instructor TensorFlow: Scala uses the graph's [B, H] as is (open-points §5);
#: what the graph computes is unpublished, so token states (rank 3) are pooled as ONNX.
TF_IN_GRAPH = IN_GRAPH + " (no Scala pooling or L2; rank-3 output pooled as the ONNX rule)"
STRATEGY = "poolingStrategy param (cls, cls_avg, last, avg, max or an index); no L2"
#: BGE ONNX (BGE.scala @14daf855): useCLSToken, default true when the metadata lacks it.
CLS_OR_MEAN_L2 = (
    "useCLSToken (5.5.3+, default true): row 0 of last_hidden_state then L2, "
    "else masked mean then L2; before 5.5.3 masked mean (all-ones mask) then L2"
)
#: BGE OpenVINO (BGE.scala @14daf855): the flag is not passed to the OpenVINO path.
MEAN_L2_FLAG_IGNORED = MEAN_L2 + " (useCLSToken ignored)"


@dataclass(frozen=True, slots=True)
class Param:
    """A Spark ML param that changes the output; ``default`` is Spark NLP's Scala default
    (read the saved ``paramMap``/``defaultParamMap`` first)."""

    name: str
    default: object
    note: str = ""


@dataclass(frozen=True, slots=True)
class Family:
    """How Spark NLP saves and runs one annotator.

    ``engines``: the engines Spark NLP has for it; ``prefix``: the engine/spp file prefix as
    Spark NLP writes it (informational: match files by suffix, :func:`engine_files`).
    ``specials``: (role, token) pairs; ``special_ids``: where their ids come from;
    ``id_offset``: added to every SentencePiece id. ``masks`` and ``pooling``: (engine,
    rule) pairs. ``needs``: for unsupported and static rows, what running it would take.
    """

    annotator: str
    family: str
    kind: Kind
    level: Level | None
    engines: tuple[str, ...]
    prefix: str
    tokenizer: str  # "wordpiece" | "bpe" | "sentencepiece" | what the graph does
    files: tuple[str, ...]  # tokenizer files in the zip
    specials: tuple[tuple[str, str], ...] = ()
    special_ids: str = ""
    id_offset: int = 0
    lowercase: str = "if not caseSensitive"
    token_vector: str = ""
    masks: tuple[tuple[str, str], ...] = ()
    pooling: tuple[tuple[str, str], ...] = ()
    params: tuple[Param, ...] = ()
    hf_model_type: str = ""  # transformers config.model_type of the upstream model
    needs: str = ""
    sources: tuple[str, ...] = ()
    open_points: tuple[str, ...] = ()

    @property
    def transformer(self) -> bool:
        return self.kind == "transformer"

    def pooling_for(self, engine: str) -> str:
        for name, rule in self.pooling:
            if name in (engine, "*"):
                return rule
        return ""

    def mask_for(self, engine: str) -> str:
        for name, rule in self.masks:
            if name in (engine, "*"):
                return rule
        return ""
