"""ModelhubEmbedding against the real llama-index-core: its vectors are the
model's encode() vectors, async equals sync off the event loop, and a
VectorStoreIndex retrieves the right document (no LLM, no network)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integrations.conftest import DOCS, QUERY, Recorder, require


@pytest.fixture(scope="module", autouse=True)
def _llamaindex() -> None:
    require("llama_index.core", "llamaindex")


def _embedding(model: Any, **options: Any) -> Any:
    from modelhub.integrations.llamaindex import ModelhubEmbedding

    return ModelhubEmbedding(model_name=model, **options)


def test_vectors_are_encode_vectors(tiny_st: Path, tiny_model: Any) -> None:
    emb = _embedding(tiny_st)
    assert emb.model_name == str(tiny_st)
    batch = emb.get_text_embedding_batch(DOCS)
    one = emb.get_text_embedding(DOCS[0])
    query = emb.get_query_embedding(QUERY)

    assert len(batch) == len(DOCS) and all(len(v) == 32 for v in batch)
    assert all(type(x) is float for x in query)
    np.testing.assert_allclose(batch, tiny_model.encode(DOCS), atol=1e-6)
    np.testing.assert_allclose(one, batch[0], atol=1e-6)
    np.testing.assert_allclose(query, tiny_model.encode(QUERY), atol=1e-6)


def test_embed_batch_size_is_encode_batch_size(recorder: Recorder) -> None:
    emb = _embedding(recorder, embed_batch_size=3)
    emb.get_text_embedding_batch(DOCS)
    # LlamaIndex cuts the texts into batches of 3 and encode() gets each whole.
    assert recorder.texts() == [DOCS[:3], DOCS[3:]]
    assert {kw["batch_size"] for _, _, kw in recorder.calls} == {3}


def test_async_equals_sync_and_runs_off_the_event_loop(recorder: Recorder) -> None:
    emb = _embedding(recorder)
    sync_batch = emb.get_text_embedding_batch(DOCS)
    sync_one, sync_query = emb.get_text_embedding(DOCS[1]), emb.get_query_embedding(QUERY)
    recorder.calls.clear()

    async def main() -> tuple[Any, Any, Any, int]:
        batch, one, query = await asyncio.gather(
            emb.aget_text_embedding_batch(DOCS),
            emb.aget_text_embedding(DOCS[1]),
            emb.aget_query_embedding(QUERY),
        )
        return batch, one, query, threading.get_ident()

    batch, one, query, loop_thread = asyncio.run(main())
    assert (batch, one, query) == (sync_batch, sync_one, sync_query)
    assert len(recorder.calls) == 3
    assert all(thread != loop_thread for thread, _, _ in recorder.calls)


def test_a_relative_path_is_a_local_directory(
    tiny_st: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_st.parent)
    emb = _embedding(Path(tiny_st.name))
    assert len(emb.get_query_embedding(QUERY)) == 32


def test_prompts_are_prepended_as_sentence_transformers_does(
    tiny_model: Any, tiny_reference: Any
) -> None:
    emb = _embedding(tiny_model, query_prompt="query: ", text_prompt="passage: ")
    np.testing.assert_allclose(
        emb.get_query_embedding(QUERY), tiny_reference.encode(QUERY, prompt="query: "), atol=1e-5
    )
    np.testing.assert_allclose(
        emb.get_text_embedding_batch(DOCS),
        tiny_reference.encode(DOCS, prompt="passage: "),
        atol=1e-5,
    )


def test_a_model_with_prompts_lends_them(tiny_model: Any) -> None:
    model = Recorder(tiny_model, prompts={"query": "query: ", "document": "passage: "})
    emb = _embedding(model)
    emb.get_query_embedding(QUERY)
    emb.get_text_embedding(DOCS[0])
    assert model.texts() == [[f"query: {QUERY}"], [f"passage: {DOCS[0]}"]]


def test_to_dict_and_pickle_round_trips_give_the_same_vectors(tiny_st: Path) -> None:
    import pickle

    from modelhub.integrations.llamaindex import ModelhubEmbedding

    emb = _embedding(tiny_st, embed_batch_size=2, query_prompt="q: ", device="cpu")
    before = emb.get_query_embedding(QUERY)
    data = emb.to_dict()
    assert data["pretrained_options"] == {"device": "cpu"}
    for again in (ModelhubEmbedding.from_dict(data), pickle.loads(pickle.dumps(emb))):
        assert (again.embed_batch_size, again.query_prompt) == (2, "q: ")
        assert again.get_query_embedding(QUERY) == before


def test_without_llama_index_core_the_error_names_the_extra() -> None:
    code = (
        "import sys\nsys.modules['llama_index'] = None\nimport modelhub.integrations.llamaindex\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert 'pip install "modelhub[llamaindex]"' in out.stderr


@pytest.mark.slow
def test_vector_store_index_retrieves_the_right_document_with_minilm(
    minilm_dir: Path, no_network: None
) -> None:
    from llama_index.core import Document, VectorStoreIndex

    emb = _embedding("all_minilm_l6_v2")
    # embed_model given here: Settings (and its OpenAI defaults) are never consulted,
    # and a retriever needs no LLM.
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS], embed_model=emb)
    retriever = index.as_retriever(similarity_top_k=1)
    (best,) = retriever.retrieve(QUERY)
    assert best.node.get_content() == DOCS[0]
    (best,) = asyncio.run(retriever.aretrieve("When must I file my taxes?"))
    assert best.node.get_content() == DOCS[1]
