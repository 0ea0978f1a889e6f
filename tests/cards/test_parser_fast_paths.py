"""The parser's faster formulations give what their plain definitions give."""

from __future__ import annotations

import re
from pathlib import PurePath

from hypothesis import given, settings
from hypothesis import strategies as st

from modelhub.cards import artifact
from modelhub.cards import values as V
from modelhub.cards.reading import _class_before, _file_name

_REFERENCE_CLASS_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*(?:\(\s*\))?[\s\\]*\Z")


@settings(max_examples=1000, deadline=None)
@given(
    st.text(alphabet="aZ_9é٣ ()\\\n\t.\u3000xB", max_size=16),
    st.integers(0, 16),
    st.integers(0, 16),
)
def test_class_before_matches_its_regex(code: str, start: int, length: int) -> None:
    start = min(start, len(code))
    end = min(len(code), start + length)
    m = _REFERENCE_CLASS_BEFORE.search(code, start, end)
    assert _class_before(code, start, end) == (None if m is None else m.group(1))


def test_class_before_reads_real_shapes() -> None:
    code = 'x = BertEmbeddings()\\\n    .pretrained("a")'
    assert _class_before(code, 0, code.index(".pretrained")) == "BertEmbeddings"
    code = 'x = nlp.BertEmbeddings.pretrained("a")'
    assert _class_before(code, 0, code.index(".pretrained")) == "BertEmbeddings"
    assert _class_before("foo(1)", 0, 6) is None


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(
        ["https://s3.amazonaws.com/", "https://S3.amazonaws.com/", "s3://", "||s3://b/", " ", ""]
    ),
    st.text(alphabet="ab._-/%?#: \t\nZ9é", max_size=20),
)
def test_plain_s3_links_read_as_the_general_parser_reads_them(prefix: str, rest: str) -> None:
    link = prefix + rest
    fast = artifact.parse_location(link)
    # The general path alone: the same function with the shortcut's pattern
    # never matching.
    general = artifact._PLAIN_S3_URL_RE
    try:
        artifact._PLAIN_S3_URL_RE = re.compile(r"(?!)")
        slow = artifact.parse_location(link)
    finally:
        artifact._PLAIN_S3_URL_RE = general
    assert fast == slow


@given(st.text(alphabet="ab./", max_size=10).filter(bool))
def test_file_name_is_the_paths_name(source: str) -> None:
    assert _file_name(source) == PurePath(source).name


@given(st.one_of(st.text(max_size=8), st.none(), st.booleans(), st.lists(st.text(max_size=2))))
def test_text_of_strings_and_others(value: object) -> None:
    expected = None
    if value is not None and not isinstance(value, list):
        expected = ("true" if value else "false") if isinstance(value, bool) else str(value).strip()
    assert V.text(value) == (expected or None)
