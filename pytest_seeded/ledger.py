"""The ledger of one test's requests and answers, against its recording: how a request is
matched, which recorded calls were used, and the new recording in a stable order. No I/O and no
policy: the modes (calls.py) decide what to do with what it finds."""

from __future__ import annotations

import json
from collections import Counter

from pytest_seeded.compare import unified_diff
from pytest_seeded.storage.snapshot import RecordedCall, RecordedRequest, Recording


class Ledger:
    __test__ = False

    def __init__(self, recorded: Recording | None) -> None:
        self.recorded = recorded
        self._used = [False] * (len(recorded.calls) if recorded else 0)
        # Slots in request order, filled when each response is complete, so concurrent calls
        # are written in the order the test made them. A slot whose attempt failed (an error
        # status the client may retry, a refused connection) is dropped, not left open.
        self.new_calls: dict[int, RecordedCall] = {}
        self._pending: set[int] = set()
        self._next_slot = 0
        # Each slot's first slot among the calls open at the same time: concurrent calls
        # reach the server in the scheduler's order, so they are stored by request instead,
        # and a re-record does not reorder the file.
        self._group: dict[int, int] = {}
        # Slots answered by the server (not from the snapshot, as record-new may).
        self.live_slots: set[int] = set()
        # Requests whose attempt failed (a transient status, a refused connection) and that no
        # later attempt answered: a recording without them would fail every replay.
        self._unanswered: list[tuple[RecordedRequest, str]] = []

    # -- matching ---------------------------------------------------------------------------

    def take(self, wanted: RecordedRequest) -> RecordedCall | None:
        """The recorded call that answers a request: the first unused one whose stored request
        (method, path or URL, body with its seed, after scrubbing) equals it. Taken once."""
        found = self._find(wanted)
        if found is None:
            return None
        self._used[found] = True
        assert self.recorded is not None
        return self.recorded.calls[found]

    def _find(self, wanted: RecordedRequest) -> int | None:
        if self.recorded is None:
            return None
        for n, call in enumerate(self.recorded.calls):
            if not self._used[n] and call.request == wanted:
                return n
        return None

    def why_unmatched(self, wanted: RecordedRequest) -> str | None:
        """A diff of the request against the nearest unused recorded one; None when every
        recorded call was used (the test made more calls than it recorded)."""
        assert self.recorded is not None
        unused = [c for n, c in enumerate(self.recorded.calls) if not self._used[n]]
        if not unused:
            return None
        nearest = next((c for c in unused if c.request.path == wanted.path), unused[0])
        return unified_diff(
            request_text(nearest.request), request_text(wanted), "recorded request", "request"
        )

    def unused(self) -> list[int]:
        """The 1-based numbers of the recorded calls no request took."""
        return [n + 1 for n, used in enumerate(self._used) if not used]

    @property
    def used(self) -> int:
        return sum(self._used)

    @property
    def size(self) -> int:
        return len(self._used)

    # -- the new recording ------------------------------------------------------------------

    def reserve(self) -> int:
        slot = self._next_slot
        self._next_slot += 1
        self._group[slot] = self._group[min(self._pending)] if self._pending else slot
        self._pending.add(slot)
        return slot

    def fill(self, slot: int, call: RecordedCall, *, live: bool) -> None:
        self.new_calls[slot] = call
        if live:
            self.live_slots.add(slot)
            # A retry answered what the earlier attempts could not.
            self._unanswered = [(r, why) for r, why in self._unanswered if r != call.request]
        self._pending.discard(slot)

    def drop(self, slot: int, request: RecordedRequest | None = None, why: str = "") -> None:
        """The attempt in this slot failed; the client may retry it (a new slot)."""
        self._pending.discard(slot)
        if request is not None:
            self._unanswered.append((request, why))

    def unanswered(self) -> list[tuple[RecordedRequest, str]]:
        """Requests that failed and were never answered by a retry, with why."""
        return list(self._unanswered)

    @property
    def made(self) -> int:
        """How many calls the test made (each one once, whatever its retries)."""
        return self._next_slot

    def live_calls(self) -> list[RecordedCall]:
        return [self.new_calls[slot] for slot in self.live_slots if slot in self.new_calls]

    def finished_calls(self) -> list[RecordedCall] | None:
        """The new recording's calls in a stable order (the order the test made them, and by
        request among calls that were open at once), or None if a call never completed."""
        if self._pending:
            return None

        groups = {slot: self._group.get(slot, slot) for slot in self.new_calls}
        sizes = Counter(groups.values())

        def order(slot: int) -> tuple[int, str]:
            group = groups[slot]
            if sizes[group] == 1:
                return group, ""
            return group, json.dumps(self.new_calls[slot].request.to_json(), sort_keys=True)

        return [self.new_calls[slot] for slot in sorted(self.new_calls, key=order)]


def request_text(request: RecordedRequest) -> str:
    body = json.dumps(request.body, indent=2, sort_keys=True, ensure_ascii=False)
    return f"{request.method} {request.path}\n{body}\n"
