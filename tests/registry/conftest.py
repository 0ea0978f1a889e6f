"""Helpers for the catalog tests: settings pointing at test inputs, metadata
copies written where `catalog sync` keeps them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelhub.config import Settings, load_settings
from modelhub.registry.catalog.paths import metadata_copy_path


def meta_line(
    name: str,
    lang: str | None = "en",
    lib: tuple[int, ...] = (2, 4, 0),
    spark: tuple[int, ...] = (2, 4),
    time: str = "2020-01-28T17:34:18.110Z",
    **extra: Any,
) -> str:
    obj: dict[str, Any] = {
        "name": name,
        "language": lang,
        "libVersion": {"parts": list(lib)},
        "sparkVersion": {"parts": list(spark)},
        "readyToUse": True,
        "time": time,
        "isZipped": True,
        "category": "ml",
        "checksum": "",
    }
    obj.update(extra)
    return json.dumps(obj)


def write_copy(settings: Settings, folder: str, text: str) -> Path:
    path = Path(metadata_copy_path(settings, folder))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CARD = """---
layout: model
title: {title}
author: John Snow Labs
name: {name}
date: 2022-02-21
tags: [{tags}]
task: {task}
language: {lang}
edition: Spark NLP {lib}
spark_version: {spark}
supported: true
annotator: {annotator}
---

## Description

{description}

[Download](https://s3.amazonaws.com/auxdata.johnsnowlabs.com/{folder}/{name}_{lang}_{lib}_{spark}_{ts}.zip)

{hf}
"""


def card_text(
    name: str,
    *,
    lang: str = "en",
    lib: str = "3.4.0",
    spark: str = "3.0",
    ts: int = 1645440129466,
    folder: str = "public/models",
    task: str = "Embeddings",
    title: str = "A test model",
    tags: str = "test, bert",
    annotator: str = "BertEmbeddings",
    description: str = "An embeddings model for tests.",
    hf_repo: str | None = None,
) -> str:
    hf = (
        f"This model was imported from Hugging Face ([link](https://huggingface.co/{hf_repo}))."
        if hf_repo
        else ""
    )
    return CARD.format(
        name=name,
        lang=lang,
        lib=lib,
        spark=spark,
        ts=ts,
        folder=folder,
        task=task,
        title=title,
        tags=tags,
        annotator=annotator,
        description=description,
        hf=hf,
    )


@pytest.fixture
def settings() -> Settings:
    """No user cards, the public folder only; cache from the isolated env."""
    return load_settings().with_changes(cards=(), folders=("public/models",))


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Path:
    """Two card models (one in two languages) and a metadata copy; the cards
    folder is MODELHUB_CARDS."""
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "a.md").write_text(
        card_text("alpha_bert", title="Alpha BERT for tests", tags="alpha, clinical")
    )
    (cards / "b.md").write_text(
        card_text(
            "beta_ner",
            task="Named Entity Recognition",
            annotator="NerDLModel",
            title="Beta NER",
            description="Finds drugs and doses.",
        )
    )
    (cards / "c.md").write_text(card_text("alpha_bert", lang="de", ts=1645440129467))
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    write_copy(
        settings,
        "public/models",
        "\n".join(
            [
                meta_line("alpha_bert", lib=(5, 6, 0), spark=(3, 4), engine="onnx"),
                meta_line("alpha_bert", lib=(2, 4, 0), spark=(2, 4)),
                meta_line("gamma_pos", lib=(2, 4, 0), spark=(2, 4)),
            ]
        ),
    )
    return cards
