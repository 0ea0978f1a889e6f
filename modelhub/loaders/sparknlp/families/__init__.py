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
O1. Still unseen anywhere in the index: the OpenVINO files of RoBertaSentenceEmbeddings and
    XlmRoBertaSentenceEmbeddings. Rule for Python, which covers all of them: pick engine
    files by suffix, case-insensitively (:func:`engine_files`), never by a fixed prefix;
    prefixes already differ in case (``Mxbai_onnx``, ``UAE_onnx``).
S6. LongformerEmbeddings has TensorFlow only. Issue #13866 ("Add ONNX support to all
    transformers", closed as stale) ticks it, but the PR meant to add it (#13907, "Add
    support for ONNX to ALBERT, CamemBERT, XLM-RoBERTa, XLNet, and Longformer") stayed open
    with every box unticked, and both stored ``nlp/embeddings/LongformerEmbeddings.scala``
    (@d6e14394, @058b6f18) write only ``longformer_tensorflow`` (``onWrite``), read only
    ``_longformer_tf`` (``readModel`` passes ``None`` for ONNX) and import only TensorFlow
    (``loadSavedModel``: any other engine is ``notSupportedEngineError``); no
    ``longformer_onnx`` string or Longformer ONNX notebook exists in the index.
S7. XLNet's piece order. The index holds two ``ml/ai/Xlnet.scala``: @11c1e343 builds
    ``pieces <sep> <cls>`` (XLNet's own order) in its own ``encode`` and reads vectors
    ``1..n`` (so each token would get its next piece's vector); @56a29f29 builds
    ``<cls> pieces <sep>`` through ``PrepareEmbeddings.prepareBatchInputsWithPadding`` and
    reads ``1..n`` (each token its own first piece). @56a29f29 is the newer: it has the
    ``PrepareEmbeddings`` helpers, the ``sessionWarmup`` and the ``tensorflowWrapper``
    parameter that every 5.x model class has, and imports ``ml.tensorflow.sentencepiece``
    as the newest classes do (``BGEM3.scala``), where @11c1e343 imports the
    ``ml.ai.util.sentencepiece`` package that only an old-style ``Marian.scala`` (pre-
    ``Generate`` decoding loop) shares. So the tokenizer follows @56a29f29; its warm-up
    input (``..., 4, 3``) still ends in the old order, which changes nothing returned.
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
S5. Read again in the newest code the index holds, and shown on models trained by the
    ``sentencepiece`` trainer (``tests/sparknlp/tokenizers/test_sentencepiece.py``): CamemBERT
    adds ``pieceIdOffset`` 4 to ``pieceToId("▁")`` and the encoder adds it again, so the bare
    ``▁`` is kept and the piece of spm id ``pieceToId("▁") + 4`` is dropped; without a
    ``<pad>`` piece its pad id is unk + 4 = 4 (``ml/ai/CamemBert.scala`` @b7c963a8). ALBERT
    pads with ``pieceToId("[pad]")``, the unk id (1) for ALBERT's spm (``ml/ai/Albert.scala``
    @b7c963a8). XLM-R offsets every id by 1 and filters ``pieceToId("▁") + 1``, so spm's
    ``<unk>`` (0) becomes 1 = ``<pad>`` (``ml/ai/XlmRoberta.scala`` @50bd6326; encoder
    ``ml/tensorflow/sentencepiece/SentencepieceEncoder.scala`` idx 5817394118). Details in
    :mod:`modelhub.loaders.sparknlp.tokenizers.sentencepiece`.
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
from pathlib import Path

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.families.records import ENGINE_SUFFIXES, SPP_SUFFIX, Family, Param
from modelhub.loaders.sparknlp.families.table import ALIASES, FAMILIES

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
    matches = [p for p in entries if p.name.lower().endswith(suffix)]
    for p in matches:
        # A link here was not unpacked from the zip (extraction refuses links): in a shared
        # cache it could point anywhere, so it is refused rather than followed.
        if p.is_symlink():
            raise ArtifactFormatError(
                f"{p}: is a symbolic link; a model folder holds plain files (delete the "
                "cache entry and pull it again)"
            )
    # folders, FIFOs and devices with the suffix are not engine files: never opened
    return [p for p in matches if p.is_file()]


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
        return f"{what} is recognised; installed loaders run it only with {', '.join(served)}"
    return f"{what} is recognised; no installed loader runs it yet"


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
