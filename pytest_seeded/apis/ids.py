"""Ids a server made, carried across a test's turns in live mode.

A tool loop sends back the ``tool_call_id`` of the answer before; a Responses conversation its
``previous_response_id``; an upload's file id comes back in a later request. A live server makes
new ids each run, so the next request differs from the recorded one by those ids alone. Each live
answer that is judged against a recorded one teaches the map which live id stands for which
recorded one; a later request is matched with the recorded ids put back. A conversation that
changed in any other way still fails on what changed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pytest_seeded.apis.readers import data_of
from pytest_seeded.storage.snapshot import RecordedRequest, RecordedResponse

# Keys whose string values are ids a server made and a client may send back.
ID_KEYS = frozenset({"id", "call_id", "tool_use_id", "item_id", "response_id", "file_id"})
# Shorter strings ("0", "msg") are too likely to occur in a request by chance.
_MIN_LENGTH = 6


def _ids(response: RecordedResponse) -> list[str]:
    """The ids in an answer, in the order they first appear."""
    found: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ID_KEYS and isinstance(item, str) and len(item) >= _MIN_LENGTH:
                    found.setdefault(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for data in data_of(response):
        walk(data)
    return list(found)


class ServerIds:
    """Live id -> recorded id, learnt over one test."""

    def __init__(self) -> None:
        self._recorded_for: dict[str, str] = {}

    def learn(self, recorded: RecordedResponse, live: RecordedResponse) -> None:
        """Pair the ids of a live answer with those of the recorded answer it is judged
        against, in the order they appear (answers of one shape list them alike)."""
        for old, new in zip(_ids(recorded), _ids(live), strict=False):
            if old != new:
                self._recorded_for[new] = old

    def translate(self, request: RecordedRequest) -> RecordedRequest:
        """The request as it would have been sent in the recorded run."""
        if not self._recorded_for:
            return request
        path = request.path
        for new, old in self._recorded_for.items():
            if new in path:
                path = path.replace(new, old)
        body = self._swap(request.body)
        if path == request.path and body == request.body:
            return request
        return replace(request, path=path, body=body)

    def _swap(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._recorded_for.get(value, value)
        if isinstance(value, dict):
            return {key: self._swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._swap(item) for item in value]
        return value
