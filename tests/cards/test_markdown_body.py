"""Body parsing details that depend on the Markdown parser underneath."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelhub.cards import markdown, parse_card, sections
from modelhub.cards.markdown import read_body

FRONT = "---\nname: demo_model\ntitle: Demo\n---\n"


def test_unmatched_backtick_after_bracket_parses() -> None:
    # markdown-it 0.6.0 (Rust) panics on "[`" unless the run is masked.
    card = parse_card(FRONT + "## Description\n\nSee [`odd and `more` text.\n", "odd.md")
    # CommonMark pairs the first two runs; the last one is literal text.
    assert card.description == "See [odd and more` text."


def test_code_span_in_link_label_is_plain_text() -> None:
    body = read_body("## Description\n\nUse [`BertEmbeddings`](https://example.org/bert) here.\n")
    assert body.description == "Use BertEmbeddings here."
    assert [(lk.href, lk.text) for lk in body.links] == [
        ("https://example.org/bert", "BertEmbeddings")
    ]


def test_link_destination_kept_as_written() -> None:
    # The Rust parser percent-encodes destinations; references keep the card's text.
    card = parse_card(
        FRONT + "## References\n\n[paper](https://example.org/a%20b/caf\u00e9?q=[1])\n", "ref.md"
    )
    assert card.references == ("https://example.org/a%20b/caf\u00e9?q=[1]",)


def test_html_div_does_not_swallow_fences() -> None:
    body = read_body(
        '<div class="tabs-box" markdown="1">\n\n'
        '```python\nx = BertEmbeddings.pretrained("a")\n```\n'
        "{:.nlu-block}\n```python\nimport nlu\nnlu.load('en.embed')\n```\n</div>\n\n## Results\n"
    )
    assert [f.nlu for f in body.fences] == [False, True]


# -- the speed-ups of text clean-up match their plain definitions ---------------

_REFERENCE_EMPHASIS = re.compile(r"(?<![\w*_])[*_]{1,3}(?=[^\s*_])|(?<=[^\s*_])[*_]{1,3}(?![\w*_])")
_REFERENCE_SPACES = re.compile(r"[ \t\r\f\v]+")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="*_ a\n.\t\r\f\v\xa0\u3000é1-,`[", max_size=24))
def test_emphasis_and_space_clean_up_match_their_definitions(text: str) -> None:
    assert markdown._unemphasize(text) == _REFERENCE_EMPHASIS.sub("", text)
    assert markdown._squeeze(text) == _REFERENCE_SPACES.sub(" ", text)


# -- section selection: jumping between marks = reading line by line -----------

_SELECT_PIECES = [
    *("\n", "|", "|a|b|\n", "|---|---|\n", "`", "```", "```\n", "````", "~~~", "~~~\n", "~"),
    *("#", "# ", "## Results\n", "## Description\n", "### Benchmarking\n", "#x", "    ```"),
    *(" ```", "\t```", "\u3000```", "\u3000|", "\u3000#", "  ", "\t", "a", "\xa0", "\x1f"),
    *(".zip", "huggingface.co", "imported from", "\n## Included Models\n", "\r", "\x0c", "\x85"),
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_SELECT_PIECES), max_size=30).map("".join))
def test_section_selection_by_marks_matches_line_by_line(body: str) -> None:
    assert markdown.select_sections(body) == sections._select_by_lines(body)


@pytest.mark.corpus
def test_section_selection_by_marks_matches_line_by_line_on_real_cards(corpus_dir: Path) -> None:
    rng = random.Random(3)
    for path in sorted((corpus_dir / "cards").glob("*.md")):
        body = path.read_text(encoding="utf-8").split("\n---", 1)[1]
        assert sections._select_by_marks(body) == sections._select_by_lines(body), path
        for _ in range(5):  # and mutated
            for _ in range(rng.randint(1, 6)):
                pos = rng.randint(0, len(body))
                body = body[:pos] + rng.choice(_SELECT_PIECES) + body[pos:]
            assert markdown.select_sections(body) == sections._select_by_lines(body), path


# -- table cells: the source slice is the parser's text (where read_body uses it)


def _cell_slices_agree(body: str) -> None:
    selected = markdown.select_sections(body)
    if not selected.isascii():
        return
    for block in markdown._MD_BLOCK.tree(selected).children:
        if block.name != "table":
            continue
        for part in block.children:
            for row in part.children:
                for cell in row.children:
                    assert cell.srcmap is not None
                    text = selected[cell.srcmap[0] : cell.srcmap[1]]
                    if "\\" not in text:
                        assert text == markdown._content(cell), (selected, text)


_CELL_PIECES = ["|", " ", "\t", "a", "b c", "`", "\\", "\\|", "*", "[x](y)", "<b>", "&amp;", ":"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_CELL_PIECES), max_size=8).map("".join), max_size=5))
def test_table_cell_slices_are_the_cell_text(rows: list[str]) -> None:
    _cell_slices_agree("".join(f"|{row}|\n" for row in rows))


@pytest.mark.corpus
def test_table_cell_slices_are_the_cell_text_on_real_cards(corpus_dir: Path) -> None:
    for path in sorted((corpus_dir / "cards").glob("*.md")):
        _cell_slices_agree(path.read_text(encoding="utf-8").split("\n---", 1)[1])


# -- content whose only markup is '[' without "](" is read unparsed -----------

_BRACKET_PIECES = [
    *("[", "]", "(", ")", "](", "![", "[en]", "[a, b]", "!", "*", "_", "**", " ", "  ", "\n"),
    *("a", "é", ":", ".", "https://", "s3://", "huggingface.co/a/b", ".zip", "{:.x}", "%2F"),
    *("Download", "imported from", "\t", "]]", "[[", "x_y", "?", ",", "|", "  \n"),
]


def _read_both(content: str) -> tuple[object, object]:
    """What _read_inline gives for ``content`` with the '[' shortcut and with
    every bracket sent through markdown-it (the general path)."""
    results = []
    shortcut = markdown._is_plain
    for plain in (shortcut, lambda c: markdown._INLINE_MARKUP_RE.search(c) is None):
        markdown._is_plain = plain
        try:
            body = markdown.Body()
            texts: list[str] = []
            text = markdown._read_inline(content, None, "description", 3, body, texts)
            results.append((text, texts, body.links, body.paragraph_text))
        finally:
            markdown._is_plain = shortcut
    return results[0], results[1]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_BRACKET_PIECES), max_size=14).map("".join))
def test_bracket_only_content_reads_as_markdown_it_reads_it(text: str) -> None:
    # As blocks hand content over: paragraph or cell text, trimmed, no blank line.
    content = "\n".join(line for line in text.strip().split("\n") if line.strip())
    if not content:
        return
    fast, general = _read_both(content)
    assert fast == general, content


@pytest.mark.corpus
def test_bracket_only_content_on_real_cards(corpus_dir: Path) -> None:
    seen = 0
    for path in sorted((corpus_dir / "cards").glob("*.md")):
        selected = markdown.select_sections(path.read_text(encoding="utf-8").split("\n---", 1)[1])
        for node in markdown._MD_BLOCK.tree(selected).walk():
            if node.name != "text":
                continue
            content = node.meta["content"].strip()
            if content and "[" in content and markdown._is_plain(content):
                fast, general = _read_both(content)
                assert fast == general, content
                seen += 1
    assert seen > 100


# -- repaired tables: the widest row counted at once ---------------------------

_ROW_PIECES = ["|", "||", " ", "\t", "a", "\\", "\\|", "-", ":"]


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(_ROW_PIECES), max_size=8),
            st.sampled_from(["", "\n", " \n"]),
        ).map(lambda t: "".join(t[0]) + t[1]),
        min_size=1,
        max_size=5,
    )
)
def test_widest_row_counted_at_once_as_row_by_row(rows: list[str]) -> None:
    assert sections._max_cells(rows) == max(map(sections._count_cells, rows))


@pytest.mark.corpus
def test_widest_row_counted_at_once_on_real_cards(corpus_dir: Path) -> None:
    runs = 0
    for path in sorted((corpus_dir / "cards").glob("*.md")):
        run: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if line.lstrip().startswith("|"):
                run.append(line)
            elif run:
                assert sections._max_cells(run) == max(map(sections._count_cells, run))
                runs += 1
                run = []
    assert runs > 100
