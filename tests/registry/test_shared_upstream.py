"""Cards that give different names to the same Hugging Face files stay separate
records (each name resolves to itself) and share one cache key."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhub.registry.catalog.catalog import load_catalog

CARD = """---
layout: model
title: {name}
name: {name}
date: 2023-11-14
task: Embeddings
language: en
annotator: BertEmbeddings
---

## Description

Imported from Hugging Face ([link](https://huggingface.co/owner/shared-repo)).
"""


@pytest.mark.parametrize("names", [("a_model", "z_model"), ("z_model", "a_model")])
def test_two_names_for_one_upstream_resolve_to_themselves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: tuple[str, str]
) -> None:
    # The folder order decides which card the builder meets first.
    dirs = []
    for i, name in enumerate(names):
        folder = tmp_path / f"cards{i}"
        folder.mkdir()
        (folder / f"{name}.md").write_text(CARD.format(name=name), encoding="utf-8")
        dirs.append(str(folder))
    monkeypatch.setenv("MODELHUB_CARDS", ":".join(dirs))

    catalog = load_catalog()
    first, second = (catalog.resolve(n, "en") for n in names)
    assert (first.name, second.name) == names
    assert first.key == second.key == "hf/owner/shared-repo@main"
