"""Comparing a live output with the recorded one, and showing the difference readably."""

from __future__ import annotations

import difflib


def unified_diff(expected: str, actual: str, expected_name: str, actual_name: str) -> str:
    lines = difflib.unified_diff(
        expected.splitlines(keepends=True),
        actual.splitlines(keepends=True),
        fromfile=expected_name,
        tofile=actual_name,
    )
    # A last line without a newline would run into the next diff line.
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def outputs_match(expected: str, actual: str) -> bool:
    return expected == actual
