"""Comparison policies for live output: exact, normalized, json and similar:THRESHOLD, and the
readable difference a failure shows."""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from pytest_seeded.apis.wire import Choice

PolicyKind = Literal["exact", "normalized", "json", "similar"]
POLICY_NAMES = ("exact", "normalized", "json", "similar:THRESHOLD")

# Typographic characters that models and editors swap freely for their plain forms.
_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2032": "'",
        "\u2033": '"',
    }
)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Policy:
    kind: PolicyKind
    threshold: float = 1.0

    def __str__(self) -> str:
        return f"similar:{self.threshold:g}" if self.kind == "similar" else self.kind


def parse_policy(text: str) -> Policy:
    """Read a policy name as given on the command line, in the ini file or in the marker."""
    value = text.strip()
    if value in ("exact", "normalized", "json"):
        return Policy(value)  # type: ignore[arg-type]
    if value.startswith("similar:"):
        try:
            threshold = float(value.split(":", 1)[1])
        except ValueError:
            threshold = -1.0
        if 0.0 <= threshold <= 1.0:
            return Policy("similar", threshold)
        raise ValueError(
            f"takes similar:THRESHOLD with a number from 0 to 1, like similar:0.9; got {value!r}"
        )
    raise ValueError(f"takes one of {', '.join(POLICY_NAMES)}; got {value!r}")


@dataclass(frozen=True)
class Comparison:
    equal: bool
    score: float | None = None
    problem: str = ""


def normalize_text(text: str) -> str:
    """NFKC, typographic quotes folded to plain ones, runs of white space to one space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).translate(_FOLD)).strip()


def similarity(expected: str, actual: str) -> float:
    # rapidfuzz's Indel ratio: the same measure as difflib's SequenceMatcher.ratio, but computed
    # in C in linear memory, where difflib is quadratic on long outputs.
    from rapidfuzz.fuzz import ratio

    return float(ratio(expected, actual)) / 100.0


def compare(
    policy: Policy,
    expected_text: str,
    actual_text: str,
    expected_choices: dict[int, Choice],
    actual_choices: dict[int, Choice],
) -> Comparison:
    """Compare two outputs (rendered text and structured choices) under a policy."""
    if policy.kind == "exact":
        return Comparison(expected_text == actual_text)
    if policy.kind == "normalized":
        return Comparison(normalize_text(expected_text) == normalize_text(actual_text))
    if policy.kind == "similar":
        score = similarity(expected_text, actual_text)
        return Comparison(score >= policy.threshold, score)
    return _compare_json(expected_choices, actual_choices)


def _compare_json(expected: dict[int, Choice], actual: dict[int, Choice]) -> Comparison:
    try:
        left = _structure(expected, "snapshot")
        right = _structure(actual, "live")
    except ValueError as exc:
        return Comparison(False, problem=str(exc))
    return Comparison(left == right)


def _structure(choices: dict[int, Choice], side: str) -> dict[int, Any]:
    """Each choice as parsed JSON: its content (if any) and its tool calls' arguments."""
    out: dict[int, Any] = {}
    for index, choice in choices.items():
        content: Any = None
        if choice.content.strip():
            content = _parse(choice.content, f"the {side} content of choice {index}")
        calls = [
            (
                name,
                _parse(args, f"the {side} arguments of tool call {name!r}")
                if args.strip()
                else None,
            )
            for name, args in choice.tool_calls
        ]
        out[index] = {"content": content, "tool_calls": calls}
    return out


def _parse(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{what} is not JSON ({exc})") from None


def unified_diff(expected: str, actual: str, expected_name: str, actual_name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=expected_name,
        tofile=actual_name,
    )
    # A last line without a newline would run into the next diff line.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def compare_vectors(
    expected: dict[int, list[float]], actual: dict[int, list[float]], min_cosine: float
) -> Comparison:
    """Embeddings: each vector's cosine similarity with the recorded one, at least
    ``min_cosine`` (the same vectors to rounding pass; a changed model or input does not).
    The score is the lowest similarity."""
    if sorted(expected) != sorted(actual):
        return Comparison(
            False, problem=f"{len(actual)} vectors where the snapshot holds {len(expected)}"
        )
    worst, where = 1.0, -1
    for index, left in expected.items():
        right = actual[index]
        if len(left) != len(right):
            return Comparison(
                False,
                problem=f"vector {index} has {len(right)} dimensions; the snapshot's {len(left)}",
            )
        dot = sum(a * b for a, b in zip(left, right, strict=True))
        norm = math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right))
        cosine = dot / norm if norm else float(left == right)
        if cosine < worst:
            worst, where = cosine, index
    if worst >= min_cosine:
        return Comparison(True, worst)
    return Comparison(
        False,
        worst,
        problem=(
            f"vector {where}: cosine similarity {worst:.6f}, below llm_min_cosine {min_cosine:g}"
        ),
    )
