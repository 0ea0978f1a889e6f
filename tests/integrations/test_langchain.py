"""ModelhubEmbeddings against the real langchain-core: its vectors are the
model's encode() vectors, async equals sync off the event loop, and a LangChain
vector store finds the right document."""

from __future__ import annotations

import asyncio
import logging
import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.integrations.conftest import DOCS, QUERY, Recorder, require


@pytest.fixture(scope="module", autouse=True)
def _langchain() -> None:
    require("langchain_core", "langchain")


def _embeddings(model: Any, **options: Any) -> Any:
    from modelhub.integrations.langchain import ModelhubEmbeddings

    return ModelhubEmbeddings(model=model, **options)


def test_vectors_are_encode_vectors_as_float_lists(tiny_st: Path, tiny_model: Any) -> None:
    emb = _embeddings(tiny_st)
    docs = emb.embed_documents(DOCS)
    query = emb.embed_query(QUERY)

    assert len(docs) == len(DOCS)
    assert all(isinstance(v, list) and len(v) == 32 for v in docs)
    assert all(type(x) is float for x in docs[0])
    assert isinstance(query, list) and len(query) == 32
    np.testing.assert_allclose(docs, tiny_model.encode(DOCS), atol=1e-6)
    np.testing.assert_allclose(query, tiny_model.encode(QUERY), atol=1e-6)
    assert emb.embed_documents([]) == []


def test_options_reach_encode(recorder: Recorder) -> None:
    emb = _embeddings(recorder, batch_size=3, normalize_embeddings=True, encode_kwargs={})
    vectors = np.asarray(emb.embed_documents(DOCS))

    ((_, texts, kwargs),) = recorder.calls
    assert texts == DOCS
    assert kwargs["batch_size"] == 3
    assert kwargs["normalize_embeddings"] is True
    assert kwargs["show_progress_bar"] is False
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    # Without the option, the model's own (here: none) normalization stands.
    plain = np.asarray(_embeddings(recorder.model).embed_documents(DOCS))
    assert np.abs(np.linalg.norm(plain, axis=1) - 1.0).max() > 1e-3


def test_async_equals_sync_and_runs_off_the_event_loop(recorder: Recorder) -> None:
    emb = _embeddings(recorder)
    sync_docs, sync_query = emb.embed_documents(DOCS), emb.embed_query(QUERY)
    recorder.calls.clear()

    async def main() -> tuple[Any, Any, int]:
        docs, query = await asyncio.gather(emb.aembed_documents(DOCS), emb.aembed_query(QUERY))
        return docs, query, threading.get_ident()

    docs, query, loop_thread = asyncio.run(main())
    assert docs == sync_docs
    assert query == sync_query
    assert len(recorder.calls) == 2
    assert all(thread != loop_thread for thread, _, _ in recorder.calls)


def test_model_loads_once_when_threads_race(
    tiny_st: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emb = _embeddings(tiny_st)
    barrier = threading.Barrier(4)
    seen: list[Any] = []

    def first_use() -> None:
        barrier.wait()
        seen.append(emb.load())

    caplog.set_level(logging.INFO, logger="modelhub.integrations")
    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 4 and len({id(m) for m in seen}) == 1
    loads = [r for r in caplog.records if r.name == "modelhub.integrations"]
    assert len(loads) == 1


def test_prompts_are_prepended_as_sentence_transformers_does(
    tiny_model: Any, tiny_reference: Any
) -> None:
    emb = _embeddings(tiny_model, query_prompt="query: ", document_prompt="passage: ")
    np.testing.assert_allclose(
        emb.embed_query(QUERY), tiny_reference.encode(QUERY, prompt="query: "), atol=1e-5
    )
    np.testing.assert_allclose(
        emb.embed_documents(DOCS), tiny_reference.encode(DOCS, prompt="passage: "), atol=1e-5
    )


def test_a_model_with_prompts_lends_them_unless_told_otherwise(tiny_model: Any) -> None:
    model = Recorder(tiny_model, prompts={"query": "query: ", "passage": "passage: "})
    emb = _embeddings(model)
    emb.embed_query(QUERY)
    emb.embed_documents(DOCS[:2])
    assert model.texts() == [[f"query: {QUERY}"], [f"passage: {d}" for d in DOCS[:2]]]

    model.calls.clear()
    own = _embeddings(model, query_prompt="", document_prompt="doc: ")
    own.embed_query(QUERY)
    own.embed_documents(DOCS[:1])
    assert model.texts() == [[QUERY], [f"doc: {DOCS[0]}"]]


def test_bad_input_is_a_clear_error(tiny_st: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="model must be a modelhub model name"):
        _embeddings(42)
    with pytest.raises(ValidationError, match="encode_kwargs may not set batch_size"):
        _embeddings(tiny_st, encode_kwargs={"batch_size": 8})
    emb = _embeddings(tiny_st)
    with pytest.raises(TypeError, match="use embed_query"):
        emb.embed_documents("one text")
    with pytest.raises(TypeError, match="must be strings"):
        emb.embed_documents(["fine", None])


def test_unknown_name_is_reported_by_the_first_call() -> None:
    import modelhub

    emb = _embeddings("no_such_model_anywhere", offline=True)
    assert emb.pretrained_options == {"offline": True}
    assert emb.embed_documents([]) == []  # nothing to embed: nothing loaded
    with pytest.raises(modelhub.ModelNotFound, match="no_such_model_anywhere"):
        emb.embed_query(QUERY)


def test_pickled_adapter_loads_again_and_gives_the_same_vectors(tiny_st: Path) -> None:
    emb = _embeddings(tiny_st)
    before = emb.embed_query(QUERY)
    again = pickle.loads(pickle.dumps(emb))
    assert again.embed_query(QUERY) == before


def test_without_langchain_core_the_error_names_the_extra() -> None:
    code = (
        "import sys\nsys.modules['langchain_core'] = None\nimport modelhub.integrations.langchain\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 1
    assert "ImportError" in out.stderr
    assert 'pip install "modelhub[langchain]"' in out.stderr


@pytest.mark.slow
def test_in_memory_vector_store_finds_the_right_document_with_minilm(
    minilm_dir: Path,
    no_network: None,
) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    emb = _embeddings("all_minilm_l6_v2")
    store = InMemoryVectorStore.from_texts(DOCS, emb)
    (best,) = store.similarity_search(QUERY, k=1)
    assert best.page_content == DOCS[0]
    (best,) = asyncio.run(store.asimilarity_search("When must I file my taxes?", k=1))
    assert best.page_content == DOCS[1]

    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm_dir), device="cpu")
    np.testing.assert_allclose(emb.embed_documents(DOCS), reference.encode(DOCS), atol=1e-5)
    np.testing.assert_allclose(emb.embed_query(QUERY), reference.encode(QUERY), atol=1e-5)
