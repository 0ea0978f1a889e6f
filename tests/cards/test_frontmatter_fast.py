"""The front-matter fast path gives exactly what the YAML library gives, or
steps aside: differential tests over real, mutated and generated front matter."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelhub.cards.frontmatter import _CardLoader, _fence_end, fast_load

SEEDS = sorted((Path(__file__).resolve().parents[2] / "modelhub" / "data" / "cards").glob("*.md"))


def typed(value: Any) -> Any:
    """``value`` with every scalar's type spelled out: True must not equal 1
    or "true", and dict order counts."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


def front_matter(text: str) -> str:
    assert text.startswith("---\n")
    return text[4:].split("\n---", 1)[0]


def agrees(yaml_text: str) -> bool:
    """Whether the fast path took ``yaml_text``; fails when it took it and
    read it differently from the YAML library."""
    fast = fast_load(yaml_text)
    if fast is None:
        return False
    reference = yaml.load(yaml_text, Loader=_CardLoader)  # raises if fast took invalid YAML
    assert typed(fast) == typed(reference), yaml_text
    return True


def real_front_matters(corpus_dir: Path) -> list[str]:
    paths = sorted((corpus_dir / "cards").glob("*.md")) + SEEDS
    return [front_matter(p.read_text(encoding="utf-8")) for p in paths]


def test_seed_front_matters_take_the_fast_path() -> None:
    for path in SEEDS:
        assert agrees(front_matter(path.read_text(encoding="utf-8"))), path


@pytest.mark.corpus
def test_every_real_front_matter_takes_the_fast_path_and_agrees(corpus_dir: Path) -> None:
    for text in real_front_matters(corpus_dir):
        assert agrees(text)


TRICKY = [
    *("yes", "No", "OFF", "NULL", "~", "=", "<<", "true", "tRUE", "y", "n", "3.10", "0x1F"),
    *(":", ": ", " :", "#", " #", "# ", "[", "]", "[a, b]", "[]", "[a,]", "[ a , yes ]"),
    *("{", "}", "{a: b}", "'", "''", '"', '\\"', "\\", "&a ", "*a", "!!str ", "!x ", "|", ">"),
    *("- ", "-", "?", "? ", "%", "@", "`", ",", "\t", " ", "  ", "\n", "\n  ", "\n ", "\n    "),
    *("\n\n", "\x85", "\u2028", "\xa0", "\u3000", "é", "\ufeff", "\x7f", "\x01", "\ud800"),
    *("2020-01-01", "2020-07-21 11:33:00 +0800", "key:", "key: v", "---", "...", "(a)", "_x"),
]


@pytest.mark.corpus
def test_mutated_real_front_matters_agree(corpus_dir: Path) -> None:
    texts = real_front_matters(corpus_dir)
    rng = random.Random(2)
    taken = 0
    for _ in range(3000):
        text = rng.choice(texts)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randint(0, len(text))
            roll = rng.random()
            if roll < 0.7:
                text = text[:pos] + rng.choice(TRICKY) + text[pos:]
            elif roll < 0.85:
                text = text[:pos] + text[pos + rng.randint(1, 10) :]
            else:
                text = text[:pos] + chr(rng.randint(1, 0x3000)) + text[pos:]
        taken += agrees(text)
    # Both paths are exercised: harmless mutations stay fast, the rest fall back.
    assert 300 < taken < 2700


KEYS = st.sampled_from(["name", "tags", "article_header", "Type", "yes", "Null", "x_1", "<<"])
VALUES = st.sampled_from(
    [
        "",
        "en",
        "Spark NLP 3.4.0",
        "3.0",
        "true",
        "Off",
        "~",
        "null",
        "=",
        "[en]",
        "[a, yes, 3.2, b c]",
        "[]",
        "[ a ]",
        "[a,,b]",
        '"Python-Scala-Java"',
        '"a\\tb"',
        "'it''s'",
        "'x'",
        "a: b",
        "a #c",
        "C#",
        "a:",
        "&x a",
        "*x",
        "!!str 1",
        "|",
        "{a: 1}",
        "- a",
        "-a",
        "(base)",
        "2020-05-04 20:11:00 +0800",
        "http://x/y?z=1",
        "Ελληνικά",
        "\u3000x",
        "x\xa0",
    ]
)
LINES = st.tuples(
    st.sampled_from(["", " ", "  ", "    "]), KEYS, st.sampled_from([":", ": ", ":  "]), VALUES
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(LINES, st.sampled_from(["", "  ", "# c", "- a", "  more"])), max_size=8))
def test_generated_front_matters_agree(lines: list[Any]) -> None:
    text = "\n".join(line if isinstance(line, str) else "".join(line) for line in lines)
    agrees(text)


def _reference_fence_end(text: str, start: int) -> tuple[int, int] | None:
    pos = start
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if text[pos:end].rstrip() in ("---", "..."):
            return pos, min(end + 1, len(text))
        pos = end + 1
    return None


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.sampled_from(["---", "...", "-- -", "a: b", " ---", "--- ", "\t", "\u3000"]), max_size=8
    )
)
def test_closing_fence_search_matches_a_line_by_line_scan(lines: list[str]) -> None:
    text = "---\n" + "\n".join(lines)
    assert _fence_end(text, 4) == _reference_fence_end(text, 4)
