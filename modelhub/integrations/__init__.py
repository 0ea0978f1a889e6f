"""Adapters that let frameworks embed documents with a modelhub model.

- :mod:`modelhub.integrations.langchain`: ``ModelhubEmbeddings``, a LangChain
  ``Embeddings`` (``pip install "modelhub[langchain]"``).
- :mod:`modelhub.integrations.llamaindex`: ``ModelhubEmbedding``, a LlamaIndex
  ``BaseEmbedding`` (``pip install "modelhub[llamaindex]"``).

Each adapter imports its framework, so this package imports nothing: import
the submodule you need.
"""
