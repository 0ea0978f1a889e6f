"""Model cards the tests write: the shape of a real Models Hub embeddings card,
with only what a test varies as arguments."""

from __future__ import annotations

from pathlib import Path

S3_PUBLIC = "https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models"


def embeddings_card(
    name: str,
    *,
    title: str,
    description: str,
    date: str = "2023-11-14",
    lib_version: str = "5.0.0",
    download: str | None = None,
    table: dict[str, str] | None = None,
) -> str:
    """A BertEmbeddings card for ``name`` (English). ``download`` is the
    Download link's target (e.g. ``s3_url(artifact)``); ``table`` adds rows to
    the Model Information table after the name and language."""
    rows = {"Model Name": name, "Language": "en", **(table or {})}
    link = f"[Download]({download})\n\n" if download else ""
    table_text = "".join(f"|{k}:|{v}|\n" for k, v in rows.items())
    return f"""---
layout: model
title: {title}
author: modelhub tests
name: {name}
date: {date}
tags: [en, embeddings, open_source]
task: Embeddings
language: en
edition: Spark NLP {lib_version}
spark_version: 3.0
supported: true
annotator: BertEmbeddings
---

## Description

{description}

{link}## Model Information

{{:.table-model}}
|---|---|
{table_text}"""


#: The tiny random BERT the Spark NLP zip fixtures hold, as its S3 artifact.
SPARKNLP_TINY_ARTIFACT = "bert_tiny_sparknlp_en_3.4.0_3.0_1645440129466.zip"


def sparknlp_tiny_card(*, title: str) -> str:
    """The card of ``bert_tiny_sparknlp``: the zip fixture on the local S3."""
    return embeddings_card(
        "bert_tiny_sparknlp",
        title=title,
        description="A tiny random BERT saved in Spark NLP's layout.",
        date="2022-02-21",
        lib_version="3.4.0",
        download=s3_url(SPARKNLP_TINY_ARTIFACT),
        table={"Case sensitive": "false", "Dimension": "32"},
    )


def imported_from_hf(repo: str) -> str:
    return f"This model was imported from Hugging Face ([link](https://huggingface.co/{repo}))."


def s3_url(artifact: str) -> str:
    return f"{S3_PUBLIC}/{artifact}"


def write_card(folder: Path, filename: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(text, encoding="utf-8")
    return path
