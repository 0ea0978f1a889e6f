"""``modelhub card``: records for people and for scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelhub.cards import CARD_KEYS
from modelhub.cli.app import main

PUBMED = "2022-02-21-bert_biomed_pubmed_uncased_en.md"
BIOBERT = "2020-08-25-biobert_pubmed_pmc_base_cased_en.md"


def test_json_array_in_order(seeds_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["card", str(seeds_dir / BIOBERT), str(seeds_dir / PUBMED), "--json"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["name"] for d in data] == [
        "biobert_pubmed_pmc_base_cased",
        "bert_biomed_pubmed_uncased",
    ]
    assert all(tuple(d) == CARD_KEYS for d in data)
    assert data[1]["timestamp"] == 1645440129466


def test_failing_file_becomes_an_error_object(
    seeds_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("---\nname: [x\n---\n", encoding="utf-8")
    rc = main(["card", str(bad), str(seeds_dir / PUBMED), "--json"])
    assert rc == 1
    data = json.loads(capsys.readouterr().out)
    assert set(data[0]) == {"path", "error"}
    assert data[0]["path"] == str(bad)
    assert str(bad) in data[0]["error"] and "malformed YAML" in data[0]["error"]
    assert data[1]["name"] == "bert_biomed_pubmed_uncased"


def test_readable_view(seeds_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["card", str(seeds_dir / PUBMED)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "bert_biomed_pubmed_uncased" in out
    assert "huggingface" in out and "411.0" in out


def test_readable_view_reports_failures_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["card", str(tmp_path / "missing.md")])
    captured = capsys.readouterr()
    assert rc == 1
    assert "missing.md" in captured.err


def test_parsing_cards_does_not_import_heavy_libraries(seeds_dir: Path) -> None:
    code = (
        "import sys; from modelhub.cli.app import main; "
        f"main(['card', {str(seeds_dir / PUBMED)!r}, '--json']); "
        "heavy = [m for m in ('torch', 'transformers', 'boto3') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
