"""The parser's faster formulations give what their plain definitions give."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from modelhub.cards.parser import _class_before

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
