"""The process-wide catalog behind `modelhub.resolve()` follows the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhub.errors import ModelNotFound
from modelhub.registry.catalog.resolve import reset_default_catalog, resolve

SEED = "2020-08-25-biobert_pubmed_pmc_base_cased_en.md"


def _card_dir(root: Path, seeds_dir: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    text = (seeds_dir / SEED).read_text(encoding="utf-8")
    (folder / f"{name}.md").write_text(text.replace("biobert_pubmed_pmc_base_cased", name))
    return folder


def test_changing_modelhub_cards_is_seen_at_once(
    tmp_path: Path, seeds_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_default_catalog()
    monkeypatch.setenv("MODELHUB_CARDS", str(_card_dir(tmp_path, seeds_dir, "alpha_model")))
    assert resolve("alpha_model").name == "alpha_model"

    monkeypatch.setenv("MODELHUB_CARDS", str(_card_dir(tmp_path, seeds_dir, "beta_model")))
    assert resolve("beta_model").name == "beta_model"
    with pytest.raises(ModelNotFound):
        resolve("alpha_model")
