"""Property tests: whatever text comes in, the parser returns a ModelCard or
raises CardError, never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelhub.cards import ModelCard, parse_card
from modelhub.errors import CardError

SEEDS = sorted((Path(__file__).resolve().parents[2] / "modelhub" / "data" / "cards").glob("*.md"))
SEED_TEXTS = [p.read_text(encoding="utf-8") for p in SEEDS]

# Fragments that steer mutations towards the parser's interesting paths.
FRAGMENTS = [
    "---\n",
    "\n",
    "|",
    "|---|---|\n",
    "|Dimension:|512|1024|\n",
    "```",
    "~~~",
    "## ",
    "[Download](||https://s3.amazonaws.com/b/k_en_1.0.0_2.4_1234567890123.zip)",
    "s3://bucket/folder/x_xx_9.9.9_3.0_1600000000000.zip",
    "https://huggingface.co/",
    "{:.nlu-block}\n",
    "nlu.load('",
    "X.pretrained(",
    "name: ",
    "spark_version: [3.2, 3.0]\n",
    "date: 31/12/2020\n",
    ": :",
    "&a [*a, *a]",
    "\x00",
    "\u200b",
    '<div markdown="1">',
    "@misc{",
    "{% raw %}",
]


def check(text: str) -> None:
    try:
        card = parse_card(text, "prop.md")
    except CardError as exc:
        assert exc.path == "prop.md"
        assert str(exc).startswith("prop.md")
        return
    assert isinstance(card, ModelCard)
    assert isinstance(card.name, str) and card.name
    card.to_dict()  # JSON-safe projection never fails


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_arbitrary_text(text: str) -> None:
    check(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300).map(lambda body: "---\nname: x\n---\n" + body))
def test_arbitrary_body_after_valid_front_matter(text: str) -> None:
    check(text)


@st.composite
def mutated_card(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEED_TEXTS))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "fragment", "duplicate"]))
        if action == "insert":
            text = text[:pos] + draw(st.text(max_size=12)) + text[pos:]
        elif action == "delete":
            end = min(len(text), pos + draw(st.integers(1, 80)))
            text = text[:pos] + text[end:]
        elif action == "fragment":
            text = text[:pos] + draw(st.sampled_from(FRAGMENTS)) + text[pos:]
        else:
            end = min(len(text), pos + draw(st.integers(1, 200)))
            text = text[:end] + text[pos:end] + text[end:]
    return text


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_card())
def test_mutated_real_cards(text: str) -> None:
    check(text)


@pytest.mark.parametrize("text", SEED_TEXTS)
def test_truncated_seed_cards(text: str) -> None:
    for cut in range(0, len(text), 97):
        check(text[:cut])
