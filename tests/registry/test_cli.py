from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelhub.cli.app import main


def test_list_one_row_per_model_sorted_and_aligned(
    hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--task", "embeddings", "--lang", "en"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "LANG", "TASK"]
    names = [ln.split()[0] for ln in lines[1:]]
    assert names == sorted(names) and len(names) == len(set(names))
    assert "alpha_bert" in names and "beta_ner" not in names
    alpha = next(ln for ln in lines if ln.startswith("alpha_bert "))
    assert "5.6.0" in alpha  # newest version, task inherited from the card
    assert lines[0].index("VERSION") == alpha.index("5.6.0")  # aligned


def test_list_targets_all_versions_and_filters(
    hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list", "--lang", "en", "--lib-version", "5.5.1", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["alpha_bert"]["lib_version"] == "3.4.0"  # 5.6.0 is too new for 5.5.1
    assert main(["list", "--lang", "en", "--all-versions", "--json"]) == 0
    versions = [
        r["lib_version"] for r in json.loads(capsys.readouterr().out) if r["name"] == "alpha_bert"
    ]
    assert versions == ["5.6.0", "3.4.0", "2.4.0"]
    assert main(["list", "--task", "ner", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["beta_ner"]
    assert main(["list", "--engine", "onnx", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["alpha_bert"]
    assert main(["list", "--tag", "clinical", "--annotator", "bertembeddings", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["alpha_bert"]
    assert main(["list", "--task", "translation"]) == 1


def test_search_ranks_name_over_description(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "alpha", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["name"] == "alpha_bert"
    assert main(["search", "drugs", "--json"]) == 0
    assert [h["name"] for h in json.loads(capsys.readouterr().out)] == ["beta_ner"]
    assert main(["search", "nothing-like-this-anywhere"]) == 1


def test_show_with_sources_and_json(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "alpha_bert", "--sources", "--version", "3.4.0"]) == 0
    out = capsys.readouterr().out
    title = next(ln for ln in out.splitlines() if ln.startswith("title "))
    assert "Alpha BERT for tests" in title and "card:" in title and "a.md" in title
    assert main(["show", "alpha_bert", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["record"]["lib_version"] == "5.6.0" and data["record"]["engine"] == "onnx"
    assert {s["kind"] for s in data["sources"]} == {"s3", "https"}


def test_show_unknown_name_suggests_and_exits_1(
    hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "alpha_bertt"]) == 1
    assert "did you mean 'alpha_bert'" in capsys.readouterr().err
    assert main(["show", "alpha_bert", "--lang", "fr"]) == 1
    assert "de, en" in capsys.readouterr().err


def test_explain_table(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "alpha_bert", "--lib-version", "5.5.1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[0] == "STATUS"
    rejected = next(ln for ln in out if ln.startswith("rejected"))
    assert "library version 5.6.0 is newer than the target 5.5.1" in rejected
    assert any(ln.startswith("picked") and "3.4.0" in ln for ln in out)
    assert main(["explain", "alpha_bert", "--lib-version", "1.0"]) == 1


def test_version_target_without_a_number_is_a_usage_error(
    hub: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["list", "--lib-version", "latest"]) == 2
    err = capsys.readouterr().err
    assert "--lib-version" in err and "'latest'" in err
    assert main(["explain", "alpha_bert", "--lib-version", "x.y"]) == 2
    assert "'x.y'" in capsys.readouterr().err
    assert main(["show", "alpha_bert", "--spark-version", "newest"]) == 2
    assert "--spark-version" in capsys.readouterr().err
    assert main(["list", "--lib-version", "none", "--all-versions", "--json"]) == 0  # no bound
    assert "5.6.0" in capsys.readouterr().out
    monkeypatch.setenv("MODELHUB_LIB_VERSION", "bogus")
    assert main(["list", "--task", "embeddings", "--lang", "en"]) == 2
    assert "MODELHUB_LIB_VERSION='bogus'" in capsys.readouterr().err


def test_catalog_status_and_usage(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "status"]) == 0
    out = capsys.readouterr().out
    assert "metadata" in out and "bundled" in out and str(hub) in out
    assert main(["catalog"]) == 2
    # a usage error is reported by main() (exit status 2), not raised
    assert main(["list", "--no-such-option"]) == 2
    assert "usage: modelhub list " in capsys.readouterr().err


def test_cli_never_imports_heavy_modules(hub: Path) -> None:
    code = (
        "import sys\n"
        "from modelhub.cli.app import main\n"
        "rcs = [main(a) for a in (['list', '--task', 'embeddings', '--lang', 'en'],"
        " ['search', 'bert'], ['show', 'alpha_bert'], ['explain', 'alpha_bert'],"
        " ['catalog', 'status'])]\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in"
        " {'torch', 'transformers', 'boto3', 'botocore'})\n"
        "print('RESULT', rcs, heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "RESULT [0, 0, 0, 0, 0] []", proc.stderr
