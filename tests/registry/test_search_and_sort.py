"""Search sees the whole description; listings sort names without case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.config import Settings

from .conftest import card_text, meta_line, write_copy


def test_search_matches_words_anywhere_in_the_description(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    filler = "This sentence pads the description of the model. " * 40
    long = f"{filler}It also tags respiration rates and Oxygenation levels."
    assert long.index("respiration") > 1500
    (cards / "long.md").write_text(card_text("long_ner", description=long))
    (cards / "short.md").write_text(card_text("short_ner", description="Finds drugs."))
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    assert main(["search", "respiration", "--json"]) == 0
    assert [h["name"] for h in json.loads(capsys.readouterr().out)] == ["long_ner"]
    for text in ("Oxygenation pads", "oxygen"):  # words in any case; inside a word
        assert main(["search", text, "--json"]) == 0
        assert [h["name"] for h in json.loads(capsys.readouterr().out)] == ["long_ner"]
    assert main(["search", "respiration oxygenation drugs"]) == 1  # every word must match


def test_listing_sorts_names_without_case(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["beta_model", "Alpha_model", "alpha_model", "Gamma_model", "delta_model"]
    lines = [meta_line(n) for n in names] + [meta_line("Alpha_model", lang="de")]
    lines.append(meta_line("Alpha_model", lib=(3, 0, 0), spark=(3, 0)))
    write_copy(settings, "public/models", "\n".join(lines))
    expected = ["Alpha_model", "alpha_model", "beta_model", "delta_model", "Gamma_model"]

    def listed(*args: str) -> list[str]:
        assert main(["list", *args]) == 0
        rows = capsys.readouterr().out.splitlines()[1:]
        cells = [r.split() for r in rows]
        return [c[0] for c in cells if c[1] == "en" and c[0].endswith("_model")]

    assert listed("--lang", "en") == expected  # one shard: the stored table
    assert listed() == expected  # several shards merged
    assert main(["list", "--lang", "en", "--all-versions", "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r["name"].endswith("_model")]
    assert [(r["name"], r["lib_version"]) for r in rows][:3] == [
        ("Alpha_model", "3.0.0"),
        ("Alpha_model", "2.4.0"),
        ("alpha_model", "2.4.0"),
    ]
