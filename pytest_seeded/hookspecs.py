"""Hooks for teams to shape what pytest-seeded stores and how it compares.

Implement them in a ``conftest.py`` or a plugin. Mark each implementation
``@pytest.hookimpl(optionalhook=True)`` so that ``-p no:seeded`` still works: without the plugin
pytest does not know these hooks and would refuse the conftest.

Per-test hooks are called through the test's own hook proxy (``item.ihook``): a conftest in one
folder affects only the tests below it. Arguments are passed by keyword; an implementation may
take any subset of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_seeded.storage.snapshot import LLMCall


@pytest.hookspec(firstresult=True)
def pytest_seeded_normalize(text: str, call: LLMCall) -> str | None:
    """Rewrite an output before live mode compares it, for example to drop a timestamp.

    Called in live mode for each call, once for the recorded output and once for the live one,
    before the comparison policy (or ``pytest_seeded_compare``) sees them; the diff shown on a
    failure is of the normalized texts. ``call`` describes the call (test, seed, number, request,
    live fingerprint, policy). Return the new text, or None to leave it as it is. The first
    implementation that returns a string wins; a conftest nearer the test is asked first.
    Outputs are the text of each choice followed by one ``[tool call] name(arguments)`` line per
    tool call. The ``json`` policy compares the parsed response, not this text.
    """


@pytest.hookspec(firstresult=True)
def pytest_seeded_compare(expected: str, actual: str, call: LLMCall) -> bool | None:
    """Decide whether a live output matches the recorded one: your own judge.

    Called in live mode for each call whose fingerprint is unchanged, with both outputs already
    normalized. Return True (equal) or False (a mismatch: the test fails with a diff), or None
    to let the comparison policy decide. The first non-None answer wins.
    """


@pytest.hookspec
def pytest_seeded_scrub(request: dict[str, Any], response: dict[str, Any] | None) -> None:
    """Remove secrets or personal data before anything is written or matched.

    ``request`` is the stored form of a request: ``{"method", "path", "body"}``; ``response`` is
    ``{"status", "content_type", "body"}`` or ``{..., "events"}`` for a stream. Change them in
    place; return nothing. Every implementation is called.

    Called for each request with ``response=None`` before it is matched against a snapshot or
    recorded (so replay matches the scrubbed form: scrub the same way every time), and again
    with the response before a new call is stored. What is sent to the server is not changed.
    """


@pytest.hookspec(firstresult=True)
def pytest_seeded_fingerprint_changed(
    old: str | None, new: str | None, item: pytest.Item, what: str
) -> str | None:
    """React to a live answer served by what the snapshot has no answer from (live mode): a
    ``system_fingerprint``, or a model (Gemini: ``modelVersion``), it never recorded.

    ``what`` names what changed: ``"system_fingerprint"``, ``"served model"`` (what the
    server says it serves, for APIs whose answers do not: llama.cpp's embeddings, Ollama, TGI),
    else ``"model"`` or ``"modelVersion"``; ``old`` and ``new`` are its recorded and live
    values.

    Return a drift policy for this call, one of ``skip``, ``xfail``, ``fail``, ``warn`` or
    ``record``, or None to use ``--llm-on-drift`` (or the marker's ``on_drift``). The first
    non-None answer wins. A good place to notify someone that the provider changed its backend.
    """
