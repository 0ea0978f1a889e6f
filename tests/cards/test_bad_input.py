"""Bad input raises CardError naming the file, the line and what is wrong."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelhub.cards import MAX_CARD_BYTES, load_card, load_cards, parse_card
from modelhub.errors import CardError, ModelhubError

GOOD = """---
name: tiny_model
language: en
---

## Description
A tiny model.
"""


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def test_card_error_is_a_modelhub_error() -> None:
    assert issubclass(CardError, ModelhubError)


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.md", "---\nname: x\ntags: [a, b\nlanguage: en\n---\nbody\n")
    with pytest.raises(CardError) as info:
        load_card(path)
    err = info.value
    assert err.path == str(path)
    # The YAML problem is reported on the card's own line numbers (front matter starts at 2).
    assert err.line is not None and 3 <= err.line <= 5
    assert f"{path}:{err.line}:" in str(err)
    assert "malformed YAML" in str(err)


def test_yaml_error_line_is_offset_by_the_opening_fence() -> None:
    text = "---\ntitle: ok\nname: ok\nbad: : :\n  - x\n---\n"
    with pytest.raises(CardError) as info:
        parse_card(text, "card.md")
    assert info.value.line == 4


def test_missing_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.md", "# Just Markdown\n\nNo front matter.\n")
    with pytest.raises(CardError, match="missing front matter") as info:
        load_card(path)
    assert info.value.line == 1 and info.value.path == str(path)


def test_unterminated_front_matter(tmp_path: Path) -> None:
    path = write(tmp_path, "open.md", "\n---\nname: x\nlanguage: en\n\n## Description\n")
    with pytest.raises(CardError, match="unterminated front matter") as info:
        load_card(path)
    assert info.value.line == 2


def test_front_matter_that_is_not_a_mapping() -> None:
    with pytest.raises(CardError, match="not a mapping"):
        parse_card("---\n- a\n- b\n---\nbody\n")


def test_binary_file(tmp_path: Path) -> None:
    path = write(tmp_path, "model.md", b"---\nname: x\n---\n\x89PNG\r\n\x1a\n\x00\x00\x00")
    with pytest.raises(CardError, match="binary") as info:
        load_card(path)
    assert info.value.line == 6  # the line holding the first NUL byte


def test_non_utf8_file(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.md", "---\nname: x\ntitle: Caf\xe9\n---\n".encode("latin-1"))
    with pytest.raises(CardError, match="not UTF-8") as info:
        load_card(path)
    assert info.value.line == 3


def test_empty_file(tmp_path: Path) -> None:
    for content in ("", "\n\n  \n"):
        path = write(tmp_path, "empty.md", content)
        with pytest.raises(CardError, match="empty file"):
            load_card(path)


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    with open(path, "wb") as fh:  # 50 MB, sparse: no need to write the bytes
        fh.write(GOOD.encode())
        fh.truncate(50 * 1024 * 1024)
    with pytest.raises(CardError, match="more than") as info:
        load_card(path)
    assert str(MAX_CARD_BYTES) in str(info.value)


def test_huge_text_is_refused() -> None:
    with pytest.raises(CardError, match="more than"):
        parse_card(GOOD + "x" * (MAX_CARD_BYTES + 1))


def test_card_without_any_name() -> None:
    with pytest.raises(CardError, match="names no model"):
        parse_card("---\ntitle: nameless\n---\nbody\n")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="no such file"):
        load_card(tmp_path / "nope.md")
    with pytest.raises(CardError, match="directory"):
        load_card(tmp_path)


def test_load_cards_skips_bad_cards_with_one_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    write(folder, "a_good.md", GOOD)
    write(folder, "b_bad.md", "no front matter\n")
    write(folder, "c_empty.md", "")
    write(folder, "d_good.md", GOOD.replace("tiny_model", "other_model"))
    write(folder, "notes.txt", "not a card")
    with caplog.at_level(logging.WARNING, logger="modelhub.cards"):
        cards = load_cards([folder])
    assert [c.name for c in cards] == ["tiny_model", "other_model"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "b_bad.md" in warnings[0].getMessage() and "c_empty.md" in warnings[1].getMessage()


def test_load_cards_strict_raises_on_the_first_bad_card(tmp_path: Path) -> None:
    write(tmp_path, "a.md", GOOD)
    bad = write(tmp_path, "b.md", "---\nname: [unclosed\n---\n")
    write(tmp_path, "c.md", "")
    with pytest.raises(CardError) as info:
        load_cards([tmp_path], strict=True)
    assert info.value.path == str(bad)


def test_load_cards_accepts_files_and_folders_in_order(tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, "z.md", GOOD.replace("tiny_model", "z_model"))
    write(sub, "a.md", GOOD.replace("tiny_model", "a_model"))
    single = write(tmp_path, "single.md", GOOD)
    cards = load_cards([single, str(sub)])
    assert [c.name for c in cards] == ["tiny_model", "a_model", "z_model"]


def test_bom_and_crlf_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "win.md", ("\ufeff" + GOOD).replace("\n", "\r\n"))
    c = load_card(path)
    assert c.name == "tiny_model" and c.description == "A tiny model."
