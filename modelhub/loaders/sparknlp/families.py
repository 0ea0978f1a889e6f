"""Spark NLP embeddings annotators, one row each: what their zips hold and how Spark NLP runs
them, as plain data for the loaders, ``NoLoaderError`` and ``bench/coverage.py``.

The rows restate ``shared/research/sparknlp-embeddings.md`` (cited below as "research §N")
after its open points (its section 9 and every **UNVERIFIED** mark) were checked again
against Spark NLP's own sources in the public code index. Paths are relative to
``JohnSnowLabs/spark-nlp``: Scala under ``src/main/scala/com/johnsnowlabs/`` (written
``nlp/...`` and ``ml/...``), notebooks under ``examples/python/transformers/``. ``@abcd1234``
is the commit the index stored, ``idx N`` the index's file id where it showed no commit.
A notebook's ``ls -l`` output cell is what Spark NLP itself wrote when it saved the model, so
the file names it shows are observed, not derived.

Settled (S) and still open (O), numbered as research §9:

S1. Engine file names not seen in Scala code, observed in Spark NLP's ``ls`` of a saved
    model: ``roberta_openvino`` for RoBertaEmbeddings (``openvino/HuggingFace_OpenVINO_in_
    Spark_NLP_RoBERTa.ipynb`` @9a165279, Spark NLP 5.5.3: ``fields``, ``metadata``,
    ``roberta_openvino``); ``roberta_onnx`` for RoBertaSentenceEmbeddings (``onnx/..._
    RoBertaSentenceEmbeddings.ipynb`` @2d1bbcc1, 5.5.3; ``fields`` holds two features,
    vocabulary and merges); ``xlmroberta_onnx`` + ``xlmroberta_spp`` and **no** ``fields/``
    for XlmRoBertaSentenceEmbeddings (``openvino/..._XlmRoBertaSentenceEmbeddings.ipynb``
    @2221e602, 5.3.0); ``e5_openvino`` (``openvino/..._E5.ipynb`` @11f02eb9);
    ``mpnet_openvino`` (``openvino/..._MPNet.ipynb`` @2d1bbcc1); ``nomic_openvino``
    (``openvino/..._Nomic.ipynb`` @2d1bbcc1, 5.5.3); ``minilm_onnx`` / ``minilm_openvino``
    (``nlp/embeddings/MiniLMEmbeddings.scala`` idx 3867915118, and the ``ls`` in
    ``openvino/..._MiniLM.ipynb`` @3646b4e1).
O1. Still unseen anywhere in the index: LongformerEmbeddings ONNX (no ``longformer_onnx``
    string, no Longformer ONNX notebook), the OpenVINO files of RoBertaSentenceEmbeddings and
    XlmRoBertaSentenceEmbeddings. Rule for Python, which covers all of them: pick engine
    files by suffix, case-insensitively (:func:`engine_files`), never by a fixed prefix;
    prefixes already differ in case (``Mxbai_onnx``, ``UAE_onnx``).
S2. MiniLMEmbeddings pools ONNX and OpenVINO alike: masked mean (mask ``id != 0``) then L2
    (``ml/ai/MiniLM.scala`` @2d1bbcc1). The newest BGE.scala in the index (idx 2131484635)
    pools ONNX and OpenVINO as masked mean with an all-ones mask (``x < 0 ? 0 : 1``) then L2.
    The maintainers' threads (issue/PR corpus, JohnSnowLabs/spark-nlp) date the other pooling
    changes: E5 and MPNet ONNX gave ``last_hidden_state`` flattened per row (vectors of
    thousands of values, issues #14066, #14049) until PR #14051 ("missing pool average",
    Nov 2023) and PR #14104 (batched average pooling, Dec 2023); XlmRoBertaSentenceEmbeddings
    ONNX likewise (issue #14181) until PR #14328 added average pooling (Jun 2024);
    RoBertaSentenceEmbeddings got ONNX with average pooling in PR #14330; BGE's
    ``useCLSToken`` came with PR #14511 (release 5.5.3, Jan 2025). E5.scala @1db94d21 in the
    index is the pre-#14051 code. So Spark NLP today mean-pools E5, MPNet, XLM-R-Sentence
    and RoBERTa-Sentence ONNX/OpenVINO output.
O2. Still open: whether L2 follows the mean for E5 and XLM-R-Sentence (MPNet's and
    RoBERTa-Sentence's code does L2) and follows CLS for BGE (the Scala of PR #14511 is not
    in the index; ``useCLSToken`` defaults to true on the Python side,
    ``HasClsTokenProperties`` idx 686089474); what Nomic's graph pools. A loader reads
    ``useCLSToken`` from the metadata and checks these against a reference vector.
S3. ``Openvino.ovModel = "openvino_model"`` (``ml/util/ModelEngine.scala`` @44877365). The
    newest ``OpenvinoWrapper.saveToFile`` copies ``<modelName>.xml/.bin`` (idx 3548826653) and
    the OpenVINO notebooks export ``openvino_model.xml/.bin`` (optimum), so new zips hold
    ``openvino_model.xml/.bin``; older ones ``saved_model.*`` or ``<prefix>_openvino.*``.
    Rule unchanged: take the one ``.xml`` and the ``.bin`` of the same stem. The same file
    names the llama.cpp engine ``LlamaCPP.name = "llama_cpp"``; cards write ``llamacpp``.
O4. The ONNX ``attention_mask = id != 0`` of the RoBERTa/XLM-R word paths (which masks
    ``<s>``, id 0) is in the newest RoBerta.scala in the index (idx 3540551258). PR #14496
    ("wrong attention mask calculation resulted in wrong embeddings", merged Jan 2025) may be
    its fix, but neither its description nor its diff is stored, so which annotators it
    changed stays open. A loader offers the quirk as Spark NLP's rule and says so.
O5. CamemBERT's double ``pieceIdOffset`` (bare ``▁`` kept), ALBERT's ``[pad]`` lookup and
    XLM-R's ``<unk>`` → 1 are derived from code only (research §2.3-2.6); fixtures trained with
    the ``sentencepiece`` trainer must show them.
O6. The ``compat`` feature write mode and ``.onnx_data`` side files: nothing new in the index.
O7. WordEmbeddings storage byte order: out of scope here (static vectors are separate work).
S8. Releases, from Spark NLP's own notebooks: ONNX came in 5.0.0 ("ONNX support was
    introduced in Spark NLP 5.0.0", ``onnx/..._RoBERTa.ipynb`` @ea436cf8) and OpenVINO in
    5.4.0 ("OpenVINO support was introduced in Spark NLP 5.4.0", ``openvino/..._RoBERTa.ipynb``
    @9a165279). A card that names no engine and needs Spark NLP < 5.0 is therefore TensorFlow
    (:func:`engine_for_version`).

Recognised-but-unsupported rows, from their Scala readers: UniversalSentenceEncoder reads
``use_tensorflow`` with ``readTensorflowWithSPModel(..., initAllTables = true, loadSP)``
(``nlp/embeddings/UniversalSentenceEncoder.scala`` idx 3712091519): a TF graph with lookup
tables and, for the multilingual models, the SentencePiece TF custom op. ElmoEmbeddings reads
``elmo_tensorflow`` with ``initAllTables = true`` (``nlp/embeddings/ElmoEmbeddings.scala`` idx
4117378320): a character-CNN + biLSTM graph. AutoGGUFEmbeddings runs a GGUF file through
llama.cpp (engine ``llama_cpp``, default ``poolingType`` MEAN; ``nlp/embeddings/
AutoGGUFEmbeddings.scala`` @433d702b). E5VEmbeddings reads ``e5v_openvino``: five OpenVINO
models (int4 language model, vision embeddings, text embeddings, image packer, multimodal
merger; ``nlp/embeddings/E5VEmbeddings.scala`` idx 3716958544).

Nothing here imports more than the standard library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from modelhub.errors import ArtifactFormatError

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
STRATEGY = "poolingStrategy param (cls, cls_avg, last, avg, max or an index); no L2"
CLS_OR_MEAN_L2 = "useCLSToken (5.5.3+): CLS token, else masked mean then L2 (L2 after CLS: O2)"
MEAN_L2_OPEN = "masked mean (since the PRs of S2); L2 after it open (O2)"


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


def _params(dim: int = 768, batch: int = 8, max_len: int = 128, cased: bool = False) -> tuple:
    return (
        Param("dimension", dim),
        Param("batchSize", batch, "only changes results through batch-dependent quirks"),
        Param("maxSentenceLength", max_len, "word pieces incl. start/end"),
        Param("caseSensitive", cased),
        Param("engine", "tensorflow", "absent in pre-5.0 zips: TensorFlow"),
    )


_WP = ("fields/vocabulary",)
_BPE = ("fields/vocabulary", "fields/merges")
_SPP = ("*_spp",)
_BERT_SPECIALS = (("start", "[CLS]"), ("end", "[SEP]"), ("pad", "[PAD]"), ("unk", "[UNK]"))
_ROBERTA_SPECIALS = (("start", "<s>"), ("end", "</s>"), ("pad", "<pad>"), ("unk", "<unk>"))
_ALL = ("tensorflow", "onnx", "openvino")
_TF_ONNX = ("tensorflow", "onnx")
_RESEARCH = "shared/research/sparknlp-embeddings.md"

FAMILIES: tuple[Family, ...] = (
    # --- word level -------------------------------------------------------------------
    Family(
        "BertEmbeddings",
        "bert",
        "transformer",
        "word",
        _ALL,
        "bert",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        token_vector=FIRST_PIECE_BY_OFFSET,
        masks=(("*", "id != 0"),),
        params=_params(),
        hf_model_type="bert",
        sources=("research/sparknlp.md §4", "nlp/embeddings/BertEmbeddings.scala @b38f6ea4"),
    ),
    Family(
        "DistilBertEmbeddings",
        "distilbert",
        "transformer",
        "word",
        _ALL,
        "distilbert",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        lowercase="if not caseSensitive; BasicTokenizer keeps the first sub-token only",
        token_vector=FIRST_PIECE_BY_OFFSET,
        masks=(("*", "id != 0; no token_type_ids input"),),
        params=_params(),
        hf_model_type="distilbert",
        sources=(f"{_RESEARCH} §2.1", "ml/ai/DistilBert.scala @48e0004b"),
    ),
    Family(
        "RoBertaEmbeddings",
        "roberta",
        "transformer",
        "word",
        _ALL,
        "roberta",
        "bpe",
        _BPE,
        _ROBERTA_SPECIALS,
        "looked up in fields/vocabulary (roberta-base 0/2/1/3)",
        0,
        lowercase="if not caseSensitive; first GPT-2 regex chunk only; Ġ on word starts "
        "except at document offset 0",
        token_vector=FIRST_PIECE_BY_OFFSET,
        masks=(("onnx", "id != 0 (masks <s>; O4)"), ("*", "id != pad")),
        params=_params(cased=True),
        hf_model_type="roberta",
        sources=(
            f"{_RESEARCH} §2.2",
            "ml/ai/RoBerta.scala idx 3540551258",
            "openvino/HuggingFace_OpenVINO_in_Spark_NLP_RoBERTa.ipynb @9a165279 (S1)",
        ),
        open_points=("O4",),
    ),
    Family(
        "XlmRoBertaEmbeddings",
        "xlm-roberta",
        "transformer",
        "word",
        _ALL,
        "xlmroberta",
        "sentencepiece",
        _SPP,
        (("start", "<s>"), ("end", "</s>"), ("pad", "<pad>")),
        "fixed: <s>=0 </s>=2 <pad>=1; spm ids + 1; bare ▁ dropped",
        1,
        token_vector=FIRST_PIECE_WORD_START,
        masks=(("tensorflow", "id != 1"), ("*", "id != 0 (masks <s>; O4)")),
        params=_params(cased=True),
        hf_model_type="xlm-roberta",
        sources=(f"{_RESEARCH} §2.3", "ml/ai/XlmRoberta.scala @50bd6326"),
        open_points=("O4", "O5: spm <unk> (0) + 1 = 1 = <pad>"),
    ),
    Family(
        "CamemBertEmbeddings",
        "camembert",
        "transformer",
        "word",
        _ALL,
        "camembert",
        "sentencepiece",
        _SPP,
        (("start", "<s>"), ("end", "</s>"), ("pad", "<pad>")),
        "spm.pieceToId(token) + 4 (fairseq offset)",
        4,
        token_vector=FIRST_PIECE_WORD_START,
        masks=(("onnx", "id != 0"), ("*", "id != pad")),
        params=_params(cased=True),
        hf_model_type="camembert",
        sources=(f"{_RESEARCH} §2.4", "ml/ai/CamemBert.scala @b7c963a8"),
        open_points=("O5: offset added twice, bare ▁ kept; <pad> may resolve to unk",),
    ),
    Family(
        "DeBertaEmbeddings",
        "deberta",
        "transformer",
        "word",
        _ALL,
        "deberta",
        "sentencepiece",
        _SPP,
        (("start", "[CLS]"), ("end", "[SEP]"), ("pad", "[PAD]")),
        "spm.pieceToId (v3: 1/2/0)",
        0,
        token_vector=FIRST_PIECE_WORD_START,
        masks=(("onnx", "id != 0; no token_type_ids"), ("*", "id != pad")),
        params=_params(cased=True),
        hf_model_type="deberta-v2",
        sources=(f"{_RESEARCH} §2.5", "ml/ai/DeBerta.scala @b7c963a8"),
    ),
    Family(
        "AlbertEmbeddings",
        "albert",
        "transformer",
        "word",
        _ALL,
        "albert",
        "sentencepiece",
        _SPP,
        (("start", "[CLS]"), ("end", "[SEP]"), ("pad", "[pad]")),
        "spm.pieceToId; pad looks up lower-case [pad]",
        0,
        token_vector=FIRST_PIECE_WORD_START,
        masks=(("*", "id != 0; token_type_ids zeros"),),
        params=_params(batch=32),
        hf_model_type="albert",
        sources=(f"{_RESEARCH} §2.6", "ml/ai/Albert.scala @b7c963a8"),
        open_points=("O5: [pad] probably resolves to spm unk (1)",),
    ),
    Family(
        "XlnetEmbeddings",
        "xlnet",
        "transformer",
        "word",
        ("tensorflow",),
        "xlnet",
        "sentencepiece",
        _SPP,
        (("start", "<cls>"), ("end", "<sep>"), ("pad", "<pad>")),
        "spm.pieceToId; Spark NLP puts <cls> first and <sep> last, right padding",
        0,
        token_vector=FIRST_PIECE_WORD_START,
        masks=(("*", "id != pad; token_type_ids zeros"),),
        params=_params(cased=True),
        hf_model_type="xlnet",
        sources=(f"{_RESEARCH} §2.7", "ml/ai/Xlnet.scala @56a29f29"),
    ),
    Family(
        "LongformerEmbeddings",
        "longformer",
        "transformer",
        "word",
        _TF_ONNX,
        "longformer",
        "bpe",
        _BPE,
        _ROBERTA_SPECIALS,
        "looked up in fields/vocabulary",
        0,
        lowercase="as RoBERTa",
        token_vector=FIRST_PIECE_BY_OFFSET,
        masks=(("*", "id != pad; no global_attention_mask"),),
        params=(
            Param("dimension", 768),
            Param("batchSize", 4),
            Param("maxSentenceLength", 1024),
            Param("caseSensitive", True),
            Param("engine", "tensorflow"),
        ),
        hf_model_type="longformer",
        sources=(f"{_RESEARCH} §2.8", "nlp/embeddings/LongformerEmbeddings.scala @d6e14394"),
        open_points=("O1: ONNX file name unseen",),
    ),
    # --- sentence level ---------------------------------------------------------------
    Family(
        "BertSentenceEmbeddings",
        "bert",
        "transformer",
        "sentence",
        _ALL,
        "bert_sentence",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        pooling=(("*", POOLER_OUTPUT),),
        masks=(("*", "id != 0"),),
        params=_params(),
        hf_model_type="bert",
        sources=("research/sparknlp.md §4",),
    ),
    Family(
        "RoBertaSentenceEmbeddings",
        "roberta",
        "transformer",
        "sentence",
        _ALL,
        "roberta",
        "bpe",
        _BPE,
        _ROBERTA_SPECIALS,
        "looked up in fields/vocabulary",
        0,
        lowercase="if not caseSensitive; BPE over the whole sentence",
        pooling=(("tensorflow", POOLER_OUTPUT), ("*", MEAN_L2)),
        masks=(("*", "id != pad"),),
        params=_params(cased=True),
        hf_model_type="roberta",
        sources=(
            f"{_RESEARCH} §3.1",
            "ml/ai/RoBerta.scala idx 3540551258",
            "onnx/HuggingFace_ONNX_in_Spark_NLP_RoBertaSentenceEmbeddings.ipynb @2d1bbcc1 (S1)",
        ),
        open_points=("O1: OpenVINO file name unseen",),
    ),
    Family(
        "XlmRoBertaSentenceEmbeddings",
        "xlm-roberta",
        "transformer",
        "sentence",
        _ALL,
        "xlmroberta",
        "sentencepiece",
        _SPP,
        (("start", "<s>"), ("end", "</s>"), ("pad", "<pad>")),
        "fixed: <s>=0 </s>=2 <pad>=1; spm ids + 1",
        1,
        lowercase="if not caseSensitive; text cut to maxSentenceLength characters first",
        pooling=(("tensorflow", POOLER_OUTPUT), ("*", MEAN_L2_OPEN)),
        params=_params(cased=True),
        hf_model_type="xlm-roberta",
        sources=(
            f"{_RESEARCH} §3.2",
            "openvino/HuggingFace_OpenVINO_in_Spark_NLP_XlmRoBertaSentenceEmbeddings.ipynb "
            "@2221e602 (S1: xlmroberta_onnx + xlmroberta_spp, no fields/)",
            "issue #14181, PR #14328: average pooling for ONNX (S2)",
        ),
        open_points=("O1: OpenVINO file name unseen", "O2: L2 after the mean"),
    ),
    Family(
        "E5Embeddings",
        "e5",
        "transformer",
        "sentence",
        _ALL,
        "e5",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        pooling=(("tensorflow", IN_GRAPH), ("*", MEAN_L2_OPEN)),
        masks=(("*", "all ones or id != 0, by version; token_type_ids zeros"),),
        params=_params(max_len=512),
        hf_model_type="bert",
        sources=(
            f"{_RESEARCH} §3.3",
            "ml/ai/E5.scala @1db94d21 (before PR #14051)",
            "PR #14051, PR #14104: average pooling for E5 and MPNet ONNX (S2)",
            "openvino/HuggingFace_OpenVINO_in_Spark_NLP_E5.ipynb @11f02eb9 (S1)",
        ),
        open_points=("O2: L2 after the mean",),
    ),
    Family(
        "BGEEmbeddings",
        "bge",
        "transformer",
        "sentence",
        _ALL,
        "bge",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        pooling=(("tensorflow", IN_GRAPH), ("*", CLS_OR_MEAN_L2)),
        masks=(("*", "all ones (padding attended); token_type_ids zeros"),),
        params=(*_params(max_len=512), Param("useCLSToken", True, "Python 7.0.0 default")),
        hf_model_type="bert",
        sources=(
            f"{_RESEARCH} §3.4",
            "ml/ai/BGE.scala idx 2131484635 (S2)",
            "PR #14511: useCLSToken, release 5.5.3 (S2)",
        ),
        open_points=("O2: useCLSToken in Scala, and L2 after CLS",),
    ),
    Family(
        "MPNetEmbeddings",
        "mpnet",
        "transformer",
        "sentence",
        _ALL,
        "mpnet",
        "wordpiece",
        _WP,
        (("start", "<s>"), ("end", "</s>"), ("pad", "<s>"), ("unk", "[UNK]")),
        "looked up in fields/vocabulary; batches pad with 0",
        0,
        pooling=(("tensorflow", IN_GRAPH), ("*", MEAN_L2)),
        masks=(("*", "id != 1 (padding zeros attended); no token_type_ids"),),
        params=_params(max_len=512),
        hf_model_type="mpnet",
        sources=(
            f"{_RESEARCH} §3.5",
            "ml/ai/MPNet.scala @0898d8ca",
            "openvino/HuggingFace_OpenVINO_in_Spark_NLP_MPNet.ipynb @2d1bbcc1 (S1)",
        ),
    ),
    Family(
        "MiniLMEmbeddings",
        "minilm",
        "transformer",
        "sentence",
        ("onnx", "openvino"),
        "minilm",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        pooling=(("*", MEAN_L2),),
        masks=(("*", "id != 0; token_type_ids zeros"),),
        params=_params(max_len=512),
        hf_model_type="bert",
        sources=(
            "ml/ai/MiniLM.scala @2d1bbcc1 (S2)",
            "nlp/embeddings/MiniLMEmbeddings.scala idx 3867915118 (S1)",
        ),
    ),
    Family(
        "MxbaiEmbeddings",
        "mxbai",
        "transformer",
        "sentence",
        _TF_ONNX,
        "Mxbai",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        pooling=(("*", STRATEGY),),
        masks=(("*", "id != 0; token_type_ids zeros"),),
        params=(*_params(dim=1024, max_len=512), Param("poolingStrategy", "cls")),
        hf_model_type="bert",
        sources=(f"{_RESEARCH} §3.6", "ml/ai/Mxbai.scala @9ac93ba8"),
    ),
    Family(
        "UAEEmbeddings",
        "uae",
        "transformer",
        "sentence",
        _ALL,
        "UAE",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        pooling=(("*", STRATEGY),),
        masks=(("*", "id != 0; token_type_ids zeros"),),
        params=(*_params(dim=1024, max_len=512), Param("poolingStrategy", "cls")),
        hf_model_type="bert",
        sources=(f"{_RESEARCH} §3.7", "ml/ai/UAE.scala idx 3828157643"),
    ),
    Family(
        "NomicEmbeddings",
        "nomic",
        "transformer",
        "sentence",
        ("onnx", "openvino"),
        "nomic",
        "wordpiece",
        _WP,
        _BERT_SPECIALS,
        "looked up in fields/vocabulary; pad 0",
        0,
        pooling=(("*", IN_GRAPH + " (output sentence_embedding)"),),
        masks=(("*", "all ones"),),
        params=_params(max_len=512),
        hf_model_type="nomic_bert",
        sources=(
            f"{_RESEARCH} §3.8",
            "ml/ai/Nomic.scala @39d3fd9f",
            "openvino/HuggingFace_OpenVINO_in_Spark_NLP_Nomic.ipynb @2d1bbcc1 (S1)",
        ),
        open_points=("O2: what the graph pools",),
    ),
    Family(
        "InstructorEmbeddings",
        "instructor",
        "transformer",
        "sentence",
        _TF_ONNX,
        "instructor",
        "sentencepiece",
        _SPP,
        (("end", "</s>"), ("pad", "<pad>")),
        "T5 spm ids as-is: instruction + text, then EOS 1; pad 0",
        0,
        lowercase="never (caseSensitive unused)",
        pooling=(
            ("tensorflow", IN_GRAPH),
            ("*", "mean over non-instruction tokens then L2; no Dense layer"),
        ),
        masks=(("*", "id != 0; context mask zeroes the instruction's tokens"),),
        params=(*_params(), Param("instruction", "")),
        hf_model_type="t5",
        sources=(f"{_RESEARCH} §3.9", "ml/ai/Instructor.scala @1a112cd1"),
    ),
    # --- recognised, not supported --------------------------------------------------------
    Family(
        "UniversalSentenceEncoder",
        "use",
        "unsupported",
        "sentence",
        ("tensorflow",),
        "use",
        "inside the TF graph (SentencePiece TF op for multilingual models)",
        (),
        needs="TensorFlow itself: a TF1 SavedModel graph with lookup tables "
        "(initAllTables) and, for the multilingual models, the SentencePiece custom op; "
        "its weights cannot be mapped onto a transformers encoder",
        sources=("nlp/embeddings/UniversalSentenceEncoder.scala idx 3712091519",),
    ),
    Family(
        "ElmoEmbeddings",
        "elmo",
        "unsupported",
        "word",
        ("tensorflow",),
        "elmo",
        "characters, inside the TF graph",
        (),
        needs="TensorFlow itself, or a port of the TF-Hub ELMo graph (character CNN + "
        "2-layer biLSTM with lookup tables) to torch",
        sources=("nlp/embeddings/ElmoEmbeddings.scala idx 4117378320",),
    ),
    Family(
        "AutoGGUFEmbeddings",
        "gguf",
        "unsupported",
        "sentence",
        ("llama_cpp",),
        "",
        "inside the GGUF file",
        (),
        needs="a llama.cpp runtime (e.g. llama-cpp-python) to run the GGUF model the zip "
        "holds, with Spark NLP's poolingType (default MEAN)",
        sources=("nlp/embeddings/AutoGGUFEmbeddings.scala @433d702b",),
    ),
    Family(
        "E5VEmbeddings",
        "e5v",
        "unsupported",
        "sentence",
        ("openvino",),
        "e5v",
        "LLaVA-NeXT processor (text and images)",
        (),
        needs="the OpenVINO runtime plus a multimodal pipeline: five IR models (int4 "
        "language model, vision and text embeddings, image packer, merger) and LLaVA-NeXT "
        "image preprocessing",
        sources=("nlp/embeddings/E5VEmbeddings.scala idx 3716958544",),
    ),
    # --- static word vectors: separate work -----------------------------------------------
    Family(
        "WordEmbeddingsModel",
        "word-vectors",
        "static",
        "word",
        (),
        "",
        "Spark NLP tokens as-is",
        ("storage/EMBEDDINGS_<storageRef>/",),
        lowercase="exact, then lower, then upper case if not caseSensitive",
        needs="a reader for the RocksDB table in storage/ (key UTF-8 word, value "
        "little-endian float32 × dimension); separate work from issue 18",
        sources=(f"{_RESEARCH} §4",),
    ),
    Family(
        "Word2VecModel",
        "word2vec",
        "static",
        "word",
        (),
        "",
        "Spark NLP tokens as-is",
        ("fields/wordVectors",),
        lowercase="never (exact, case-sensitive lookup)",
        needs="a reader for fields/wordVectors (MapFeature[String, Array[Float]]); separate "
        "work from issue 18",
        sources=(f"{_RESEARCH} §5",),
    ),
)

#: Names cards use for an annotator, other than the class's own.
ALIASES: dict[str, str] = {
    "wordembeddings": "WordEmbeddingsModel",  # the approach's name, used by old cards
    "word2vecapproach": "Word2VecModel",
    "tfhub_use": "UniversalSentenceEncoder",
}

_BY_NAME: dict[str, Family] = {f.annotator.lower(): f for f in FAMILIES}


def family_for(annotator: str | None) -> Family | None:
    """The row for ``annotator``: a simple or fully qualified Spark NLP class name, in any
    case (``RoBertaEmbeddings``, ``com.johnsnowlabs.nlp.embeddings.RoBertaEmbeddings``)."""
    if not annotator:
        return None
    key = annotator.strip().rsplit(".", 1)[-1].lower()
    key = ALIASES.get(key, key).lower()
    return _BY_NAME.get(key)


def transformer_families() -> tuple[Family, ...]:
    return tuple(f for f in FAMILIES if f.transformer)


def engine_for_version(lib_version: str | None) -> str | None:
    """The engine a card that names none must have: TensorFlow before Spark NLP 5.0.0
    (ONNX came in 5.0.0, OpenVINO in 5.4.0: S8); ``None`` when it cannot be told."""
    if not lib_version:
        return None
    head = lib_version.strip().split(".", 1)[0]
    if not head.isdigit():
        return None
    return "tensorflow" if int(head) < 5 else None


def _suffix_matches(root: Path, suffix: str) -> list[Path]:
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise ArtifactFormatError(f"{root}: cannot list the model folder ({exc})") from None
    return [p for p in entries if p.is_file() and p.name.lower().endswith(suffix)]


def engine_files(root: Path) -> dict[str, Path]:
    """The engine files of a Spark NLP model folder by engine, matched by suffix in any case
    (``roberta_onnx``, ``Mxbai_onnx``, ``UAE_openvino``). Two files for one engine are an
    error naming both: Spark NLP writes one."""
    root = Path(root)
    found: dict[str, Path] = {}
    for engine, suffix in ENGINE_SUFFIXES.items():
        matches = _suffix_matches(root, suffix)
        if len(matches) > 1:
            raise ArtifactFormatError(
                f"{root}: {len(matches)} {engine} engine files "
                f"({', '.join(p.name for p in matches)}); Spark NLP saves one"
            )
        if matches:
            found[engine] = matches[0]
    return found


def spp_file(root: Path) -> Path | None:
    """The raw SentencePiece model (``*_spp``, any case) of a model folder, if any."""
    matches = _suffix_matches(Path(root), SPP_SUFFIX)
    if len(matches) > 1:
        raise ArtifactFormatError(
            f"{root}: {len(matches)} SentencePiece files "
            f"({', '.join(p.name for p in matches)}); Spark NLP saves one"
        )
    return matches[0] if matches else None


def unserved_reason(
    annotator: str | None,
    engine: str | None = None,
    served_engines: Iterable[str] = (),
) -> str | None:
    """Why no installed loader runs ``annotator`` with ``engine``, in words, for a
    recognised annotator; ``None`` for one this table does not know or that an installed
    loader runs with ``engine``. ``served_engines``: the engines installed loaders run for
    this annotator (empty: none serves it)."""
    row = family_for(annotator)
    if row is None:
        return None
    served = sorted({e.lower() for e in served_engines})
    if row.transformer and engine and engine.lower() in served:
        return None  # a loader runs it; why that loader declined says the rest
    if row.kind == "unsupported":
        return f"{row.annotator} is recognised but not supported: it needs {row.needs}"
    if row.kind == "static":
        return (
            f"{row.annotator} (static word vectors) is recognised but not supported yet: "
            f"it needs {row.needs}"
        )
    what = f"{row.annotator} ({row.family}, {engine})" if engine else row.annotator
    if engine and row.engines and engine.lower() not in row.engines:
        return (
            f"{what}: Spark NLP has no {engine} engine for {row.annotator} "
            f"(it has {', '.join(row.engines)})"
        )
    if served:
        return (
            f"{what} is recognised; installed loaders run it only with "
            f"{', '.join(served)} (issue 18)"
        )
    return f"{what} is recognised; no installed loader runs it yet (issue 18)"


__all__ = [
    "ALIASES",
    "ENGINE_SUFFIXES",
    "FAMILIES",
    "SPP_SUFFIX",
    "Family",
    "Param",
    "engine_files",
    "engine_for_version",
    "family_for",
    "spp_file",
    "transformer_families",
    "unserved_reason",
]
