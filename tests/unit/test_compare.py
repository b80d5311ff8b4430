"""Comparison policies and the difference a failure shows."""

from __future__ import annotations

import pytest

from pytest_seeded.apis.wire import Choice
from pytest_seeded.compare import (
    compare,
    compare_vectors,
    normalize_text,
    parse_policy,
    unified_diff,
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("exact", "exact"),
        (" json ", "json"),
        ("normalized", "normalized"),
        ("similar:0.9", "similar:0.9"),
    ],
)
def test_policies_parse_and_print_back(text: str, shown: str) -> None:
    assert str(parse_policy(text)) == shown


@pytest.mark.parametrize("text", ["similar:2", "similar:x", "fuzzy", ""])
def test_a_bad_policy_says_what_it_takes(text: str) -> None:
    with pytest.raises(ValueError, match="takes"):
        parse_policy(text)


def test_normalized_folds_quotes_width_and_space() -> None:
    assert normalize_text("  “Rain”\u00a0falls\n\n") == '"Rain" falls'


@pytest.mark.parametrize(
    ("policy", "left", "right", "equal"),
    [
        ("exact", "a b", "a b", True),
        ("exact", "a b", "a  b", False),
        ("normalized", "a b", "a  b", True),
        ("similar:0.8", "the rain falls", "the rain fell", True),
        ("similar:0.99", "the rain falls", "the rain fell", False),
    ],
)
def test_text_policies(policy: str, left: str, right: str, equal: bool) -> None:
    assert compare(parse_policy(policy), left, right, {}, {}).equal is equal


def test_json_policy_compares_parsed_content() -> None:
    left = {0: Choice(content='{"a": 1, "b": 2}')}
    right = {0: Choice(content='{"b": 2,\n "a": 1}')}
    assert compare(parse_policy("json"), "", "", left, right).equal
    wrong = {0: Choice(content='{"a": 2, "b": 2}')}
    assert not compare(parse_policy("json"), "", "", left, wrong).equal


def test_json_policy_says_when_an_output_is_not_json() -> None:
    result = compare(
        parse_policy("json"), "", "", {0: Choice(content="{")}, {0: Choice(content="{")}
    )
    assert not result.equal
    assert "JSON" in result.problem


def test_vectors_within_the_cosine_tolerance_match() -> None:
    assert compare_vectors({0: [1.0, 0.0]}, {0: [0.9999, 0.0001]}, 0.999).equal
    far = compare_vectors({0: [1.0, 0.0]}, {0: [0.0, 1.0]}, 0.999)
    assert not far.equal
    assert far.score is not None
    assert far.score < 0.5


def test_vectors_of_another_shape_say_so() -> None:
    assert "vectors" in compare_vectors({0: [1.0]}, {0: [1.0], 1: [1.0]}, 0.9).problem
    assert "dimensions" in compare_vectors({0: [1.0]}, {0: [1.0, 0.0]}, 0.9).problem


def test_the_diff_names_both_sides() -> None:
    diff = unified_diff("a\nb\n", "a\nc\n", "snapshot", "live")
    assert "--- snapshot" in diff
    assert "+++ live" in diff
    assert "-b" in diff
    assert "+c" in diff
