"""How deterministic a seeded call really is: the same request made K times, its answers grouped
by fingerprint, counted, and the point where a divergent answer leaves the majority."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

# Tokens for reporting positions: words and single punctuation marks. Not the model's own
# tokenizer (that differs between models and is not at hand), but stable and readable.
_TOKEN = re.compile(r"\w+|[^\w\s]")
_SHOWN = 2000


class Sample(NamedTuple):
    """One of a call's repeated answers: what served it, what it says, and its vectors
    (embeddings, compared within llm_min_cosine rather than bit for bit)."""

    identity: str | None
    output: str
    vectors: dict[int, list[float]] | None = None


@dataclass(frozen=True)
class Measure:
    """One call's K answers under one fingerprint."""

    call: int
    fingerprint: str | None
    responses: int
    distinct: int
    agreement: float
    divergence_char: int | None
    divergence_token: int | None
    # The majority's answer and the first that left it, for the HTML report's side-by-side
    # view; cut to a length a report can show.
    majority_text: str = ""
    divergent_text: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def measure(call: int, samples: list[tuple[str | None, str]]) -> list[Measure]:
    """Group (fingerprint, output) samples by fingerprint and measure each group."""
    groups: dict[str | None, list[str]] = {}
    for fingerprint, output in samples:
        groups.setdefault(fingerprint, []).append(output)
    measures = []
    for fingerprint, outputs in groups.items():
        counts = Counter(outputs)
        majority, agreeing = counts.most_common(1)[0]
        others = [o for o in outputs if o != majority]
        positions = [first_divergence(majority, o) for o in others]
        char, token = min(positions) if positions else (None, None)
        divergent = others[positions.index(min(positions))] if others else None
        measures.append(
            Measure(
                call=call,
                fingerprint=fingerprint,
                responses=len(outputs),
                distinct=len(counts),
                agreement=agreeing / len(outputs),
                divergence_char=char,
                divergence_token=token,
                majority_text=majority[:_SHOWN],
                divergent_text=None if divergent is None else divergent[:_SHOWN],
            )
        )
    return measures


def first_divergence(majority: str, other: str) -> tuple[int, int]:
    """Where ``other`` leaves ``majority``: the character offset, and how many of the
    majority's tokens come wholly before it."""
    char = 0
    for a, b in zip(majority, other, strict=False):
        if a != b:
            break
        char += 1
    token = sum(1 for m in _TOKEN.finditer(majority) if m.end() <= char)
    return char, token


def suite_agreement(measures: list[dict[str, Any]]) -> tuple[float | None, int]:
    """Suite-wide rate: answers that agree with their call's majority, over all answers."""
    responses = sum(int(m["responses"]) for m in measures)
    agreeing = sum(round(float(m["agreement"]) * int(m["responses"])) for m in measures)
    return (agreeing / responses if responses else None), responses
