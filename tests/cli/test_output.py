"""What people read: tables aligned by display width, counts with the right
noun, and pull saying what it did."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.cli.output import clip, display_width, format_table, plural
from tests.cache.conftest import install
from tests.cardgen import embeddings_card
from tests.offline.conftest import fake_card, fake_package  # noqa: F401  (fixtures)

CLI = Path(__file__).resolve().parents[2] / "modelhub" / "cli"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_plural() -> None:
    assert [plural(n, "entry") for n in (0, 1, 2)] == ["0 entries", "1 entry", "2 entries"]
    assert plural(1, "file") == "1 file" and plural(3, "file") == "3 files"
    assert plural(2, "key") == "2 keys" and plural(2, "match") == "2 matches"


def test_display_width() -> None:
    assert display_width("abc") == 3
    assert display_width("日本語") == 6  # East Asian wide
    assert display_width("🚀") == 2  # emoji
    assert display_width("e\u0301") == 1  # e + combining acute accent
    assert display_width("café") == 4
    assert clip("日本語テキスト", 7) == "日本語…"


def _columns(line: str, cells: list[str]) -> list[int]:
    """The display column where each cell starts in ``line``."""
    cols, pos = [], 0
    for cell in cells:
        pos = line.index(cell, pos)
        cols.append(display_width(line[:pos]))
        pos += len(cell)
    return cols


def test_tables_align_by_display_width() -> None:
    rows = [("bert", "🚀 rocket", "x"), ("日本語モデル", "e\u0301te\u0301", "y"), ("a", "b", "z")]
    lines = format_table(["name", "title", "tag"], rows).splitlines()
    starts = {tuple(_columns(ln, list(cells))) for ln, cells in zip(lines[1:], rows, strict=True)}
    assert starts == {tuple(_columns(lines[0], ["NAME", "TITLE", "TAG"]))}


def _card(folder: Path, name: str, title: str, task: str = "Embeddings") -> None:
    text = embeddings_card(name, title=title, description="For the alignment test.")
    (folder / f"2023-11-14-{name}_en.md").write_text(
        text.replace("task: Embeddings", f"task: {task}"), encoding="utf-8"
    )


def test_list_and_search_align_emoji_and_wide_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    _card(cards, "aaa_rocket", "Rocket 🚀 embeddings", task="Embeddings 🚀")
    _card(cards, "aaa_wide", "日本語の埋め込み embeddings", task="埋め込み")
    _card(cards, "aaa_plain", "Plain embeddings")
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    rows = ("aaa_plain ", "aaa_rocket ", "aaa_wide ")

    rc, out, _ = run(capsys, "list", "--lang", "en")
    assert rc == 0
    lines = out.splitlines()
    want = display_width(lines[0][: lines[0].index("ANNOTATOR")])
    for line in (ln for ln in lines if ln.startswith(rows)):
        assert display_width(line[: line.index("BertEmbeddings")]) == want, line

    rc, out, _ = run(capsys, "search", "embeddings", "--limit", "0")
    assert rc == 0
    lines = out.splitlines()
    want = display_width(lines[0][: lines[0].index("SCORE")])
    for line in (ln for ln in lines if ln.startswith(rows)):
        score = line.rsplit(" ", 1)[1]
        assert display_width(line[: len(line) - len(score)]) == want, line
    assert sum(ln.startswith(rows) for ln in lines) == 3


def test_counts_read_one_entry_not_one_entries(capsys: pytest.CaptureFixture[str]) -> None:
    install("only", {"f": b"x" * 10})
    rc, out, _ = run(capsys, "cache", "ls")
    assert rc == 0 and "\n1 entry, 10 B" in out and "entries" not in out.split("\n\n")[-1]
    rc, out, _ = run(capsys, "cache", "verify", "--all")
    assert rc == 0 and "verified 1 entry," in out


def test_pull_from_a_package_says_copied_not_downloaded_0_b(
    fake_card: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out, err = run(capsys, "pull", fake_card)
    assert rc == 0 and Path(out.strip(), "weights.dat").is_file()
    assert re.search(r": copied 64\.\d KB from package mh_fake_model in \d+\.\d s$", err), err
    assert "downloaded" not in err and "0 B" not in err
    rc, _, err = run(capsys, "pull", fake_card)
    assert rc == 0 and err.strip().endswith("cache hit")


def test_one_table_renderer_for_the_cli() -> None:
    """Every table in cli/ goes through output.format_table: no second
    renderer (the registry's pre-rendered list is used only when ASCII)."""
    offenders = []
    for path in sorted(CLI.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name != "output.py" and (
            "render_table" in text or "render_rows" in text or ".ljust(" in text
        ):
            offenders.append(path.name)
    assert offenders == []
