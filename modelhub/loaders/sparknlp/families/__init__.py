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

Settled (S) and still open (O), numbered as research §9 (S9 is new); "open-points §N" is
``docs/research/sparknlp-open-points.md``, the second pass over Spark NLP's Scala that
settled most of them (``JohnSnowLabs/spark-nlp`` files read at the commits named):

S1. Engine file names not seen in Scala code, observed in Spark NLP's ``ls`` of a saved
    model: ``roberta_openvino`` for RoBertaEmbeddings (``openvino/HuggingFace_OpenVINO_in_
    Spark_NLP_RoBERTa.ipynb`` @9a165279, Spark NLP 5.5.3: ``fields``, ``metadata``,
    ``roberta_openvino``); ``roberta_onnx`` for RoBertaSentenceEmbeddings (``onnx/..._
    RoBertaSentenceEmbeddings.ipynb`` @2d1bbcc1, 5.5.3; ``fields`` holds two features,
    vocabulary and merges), whose OpenVINO file is ``roberta_openvino`` too
    (``nlp/embeddings/RoBertaSentenceEmbeddings.scala`` @48e0004b, open-points §7);
    ``xlmroberta_onnx`` + ``xlmroberta_spp`` and **no** ``fields/`` for
    XlmRoBertaSentenceEmbeddings (``openvino/..._XlmRoBertaSentenceEmbeddings.ipynb``
    @2221e602, 5.3.0); ``e5_openvino`` (``openvino/..._E5.ipynb`` @11f02eb9);
    ``mpnet_openvino`` (``openvino/..._MPNet.ipynb`` @2d1bbcc1); ``nomic_openvino``
    (``openvino/..._Nomic.ipynb`` @2d1bbcc1, 5.5.3); ``minilm_onnx`` / ``minilm_openvino``
    (``nlp/embeddings/MiniLMEmbeddings.scala`` idx 3867915118, and the ``ls`` in
    ``openvino/..._MiniLM.ipynb`` @3646b4e1).
O1. Still unseen: XlmRoBertaSentenceEmbeddings' OpenVINO file (the only stored
    ``XlmRoBertaSentenceEmbeddings.scala``, @b38f6ea4, is TensorFlow-only; very probably
    ``xlmroberta_openvino``, as the word-level class). The rule for Python covers it: pick
    engine files by suffix, case-insensitively (:func:`engine_files`), never by a fixed
    prefix; prefixes already differ in case (``Mxbai_onnx``, ``UAE_onnx``).
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
S2. Sentence pooling of the ONNX and OpenVINO paths, in the newest Scala found (MiniLM
    ``ml/ai/MiniLM.scala`` @2d1bbcc1; the rest open-points §1-§4):
    - E5 (``ml/ai/E5.scala`` @48e0004b), MiniLM, MPNet, RoBERTa-Sentence (``RoBerta.scala``
      idx 3540551258): masked mean (``LinAlg.avgPooling``) then ``LinAlg.l2Normalize``;
      masks ``id != 0`` (E5 all ones before @48e0004b), MPNet ``id != 1``,
      RoBERTa-Sentence ``id != pad``.
    - XLM-R-Sentence (``ml/ai/XlmRoberta.scala`` @48e0004b ``tagSequence``): the same with
      mask ``id != 1`` (``SentencePadTokenId``), which also drops unknown pieces (S5);
      TensorFlow ``pooler_output``, same mask.
    - BGE (``ml/ai/BGE.scala`` @14daf855, PR #14496, release 5.5.3): ONNX ``useCLSToken``
      true: row 0 of ``last_hidden_state`` then L2; false: masked mean then L2; mask
      ``id != 0``. The param's Scala default is **true** (``nlp/HasClsTokenProperties.scala``
      @14daf855), so a zip saved without it is CLS-pooled by 5.5.3+; Spark NLP before
      5.5.3 mean-pooled every BGE zip with an all-ones mask (idx 2131484635). OpenVINO
      ignores the flag: always masked mean then L2.
    - Nomic (``ml/ai/Nomic.scala`` @14daf855): the graph's ``sentence_embedding`` as is, no
      Scala pooling or L2; mask ``id != 0`` (all ones at @39d3fd9f).
    - TensorFlow graphs of E5, BGE, MPNet, Instructor: Scala feeds ids and mask, fetches
      one output and uses its ``[B, H]`` as is (open-points §5).
    History (issue/PR corpus): E5 and MPNet ONNX gave ``last_hidden_state`` flattened per
    row (issues #14066, #14049) until PR #14051 (Nov 2023) and PR #14104 (batched pooling,
    Dec 2023); XLM-R-Sentence ONNX likewise (issue #14181) until PR #14328 (Jun 2024).
O2. Still open: what the published TensorFlow graphs of E5/BGE/MPNet/Instructor compute
    after the encoder (no export code is public): a graph giving ``[B, H]`` is used as
    is, one giving token states is pooled as the family's ONNX rule. Whether Nomic's graph
    ends in a Normalize module (the model's ``modules.json``, unread; the export runs the
    whole sentence-transformers module list) matters only against a sentence-transformers
    reference, not for parity with Spark NLP.
S3. ``Openvino.ovModel = "openvino_model"`` (``ml/util/ModelEngine.scala`` @44877365). The
    newest ``OpenvinoWrapper.saveToFile`` copies ``<modelName>.xml/.bin`` (idx 3548826653) and
    the OpenVINO notebooks export ``openvino_model.xml/.bin`` (optimum), so new zips hold
    ``openvino_model.xml/.bin``; older ones ``saved_model.*`` or ``<prefix>_openvino.*``.
    Rule unchanged: take the one ``.xml`` and the ``.bin`` of the same stem. The same file
    names the llama.cpp engine ``LlamaCPP.name = "llama_cpp"``; cards write ``llamacpp``.
S4. The word paths' ``attention_mask = id != 0`` (masks ``<s>``, id 0; padding id 1
    attended) is in the newest versions found: RoBERTa ONNX (``ml/ai/RoBerta.scala``
    idx 3540551258; its OpenVINO path passes the pad id: ``id != 1``), XLM-R ONNX and OpenVINO
    (``ml/ai/XlmRoberta.scala`` @48e0004b; the OpenVINO helper ``PrepareEmbeddings``
    idx 2155835486 defaults ``sentencePadTokenId`` to 0). PR #14496 (Jan 2025) fixed BGE's and
    Nomic's masks, not these (open-points §6). A loader applies the quirk as Spark NLP's
    rule and says so; a fix after the newest indexed versions cannot be excluded.
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
O6. ``.onnx_data`` side files are settled: Spark NLP copies the file unzipped beside the
    engine zip, named ``<suffix>_<model><postfix>`` (``ml/onnx/OnnxSerializeModel.scala`` idx
    3586219991, e.g. BGEM3's ``_bge_m3_model.onnx_data``), and none of these annotators
    passes a ``dataFilePostfix``; the ONNX runner puts the one side file under the graph's
    external-data ``location`` whatever its name (open-points §8). Still open: the
    ``compat`` feature write mode (no ``Feature.scala`` with a ``writeMode`` is indexed).
O7. WordEmbeddings storage byte order: out of scope here (static vectors are separate work).
S8. Releases, from Spark NLP's own notebooks: ONNX came in 5.0.0 ("ONNX support was
    introduced in Spark NLP 5.0.0", ``onnx/..._RoBERTa.ipynb`` @ea436cf8) and OpenVINO in
    5.4.0 ("OpenVINO support was introduced in Spark NLP 5.4.0", ``openvino/..._RoBERTa.ipynb``
    @9a165279). A card that names no engine and needs Spark NLP < 5.0 is therefore TensorFlow
    (:func:`engine_for_version`).
S9. ``LinAlg.avgPooling`` pools every row of a batch with the **first** row's mask and
    divides by that row's count (``expandAttentionMask`` reads column 0 of the transposed
    mask; ``ml/util/LinAlg.scala`` idx 7479104452, since PR #14104, open-points §9). With a
    padding mask, rows after the first then average the first row's positions (padding
    when it is longer, cut tokens when shorter). :mod:`modelhub.loaders.sparknlp.semantics`
    documents it and does not reproduce it: rows are pooled alone, as a batch of one.

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
