from __future__ import annotations

import pytest

from modelhub.registry.versions import is_compatible, parse_target, parse_version, same_version


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.4.0", (3, 4, 0)),
        ("Spark NLP 3.4.0+", (3, 4, 0)),
        ("3.0", (3, 0)),
        ("3.0.0-rc1", (3, 0, 0)),
        ("", ()),
        (None, ()),
        ([2, 4], (2, 4)),
    ],
)
def test_parse_version(text: object, expected: tuple[int, ...]) -> None:
    assert parse_version(text) == expected


@pytest.mark.parametrize(
    ("candidate", "target", "ok"),
    [
        ("3.4.0", "5.5.1", True),  # lower at the first component
        ("5.6", "5.5.1", False),  # higher at the second
        ("5.5.1", "5.5.1", True),
        ("5.5", "5.5.1", True),  # a prefix of the target
        ("5.5.2", "5.5.1", False),
        ("3.0.2", "3.0", False),  # longer than the target
        ("3.0", "3.0.2", True),
        ("2.4", "3", False),  # longer, even though lower
        ("9.9.9", "", True),  # no target: no upper bound
        ("", "3.0", True),  # unknown candidate version
    ],
)
def test_spark_nlp_compatibility_rule(candidate: str, target: str, ok: bool) -> None:
    assert is_compatible(parse_version(candidate), parse_version(target)) is ok


def test_same_version_ignores_trailing_zeros() -> None:
    assert same_version((3, 4), (3, 4, 0))
    assert not same_version((3, 4, 1), (3, 4))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.5.1", (5, 5, 1)),
        ("Spark NLP 3.4+", (3, 4)),
        ((5, 5), (5, 5)),
        (None, ()),
        ("", ()),
        (" None ", ()),
        ("any", ()),
    ],
)
def test_parse_target(text: object, expected: tuple[int, ...]) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize("text", ["latest", "x.y", "bogus", "v"])
def test_target_without_a_number_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match=repr(text)):
        parse_target(text)
