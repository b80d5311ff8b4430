"""The ledger alone: how a request is matched, which recorded calls were used, and the order of
a new recording."""

from __future__ import annotations

from pytest_seeded.ledger import Ledger
from pytest_seeded.storage.snapshot import (
    RecordedCall,
    RecordedRequest,
    RecordedResponse,
    Recording,
)


def call(content: str, *, seed: int = 42, path: str = "/v1/chat/completions") -> RecordedCall:
    request = RecordedRequest("POST", path, {"model": "m", "seed": seed, "q": content})
    response = RecordedResponse(200, "application/json", body={"a": content})
    return RecordedCall(request, response, "fp", content)


def test_a_request_takes_the_first_unused_equal_call_once() -> None:
    a, b = call("a"), call("a")
    ledger = Ledger(Recording(42, [a, b]))
    assert ledger.take(a.request) is a
    assert ledger.take(a.request) is b
    assert ledger.take(a.request) is None
    assert ledger.used == 2
    assert ledger.unused() == []


def test_an_unmatched_request_is_diffed_against_the_nearest_unused_call() -> None:
    ledger = Ledger(Recording(42, [call("rain")]))
    wanted = call("snow").request
    assert ledger.take(wanted) is None
    diff = ledger.why_unmatched(wanted)
    assert diff is not None
    assert '-  "q": "rain"' in diff
    assert '+  "q": "snow"' in diff


def test_when_every_call_was_used_there_is_nothing_to_diff() -> None:
    only = call("a")
    ledger = Ledger(Recording(42, [only]))
    ledger.take(only.request)
    assert ledger.why_unmatched(call("b").request) is None


def test_unused_calls_are_numbered_from_one() -> None:
    calls = [call("a"), call("b"), call("c")]
    ledger = Ledger(Recording(42, calls))
    ledger.take(calls[1].request)
    assert ledger.unused() == [1, 3]
    assert ledger.size == 3


def test_a_new_recording_keeps_the_order_calls_were_made() -> None:
    ledger = Ledger(None)
    first, second = ledger.reserve(), ledger.reserve()
    # The second answer arrives first: both were open at once, so they are stored by request.
    ledger.fill(second, call("b"), live=True)
    ledger.fill(first, call("a"), live=True)
    third = ledger.reserve()
    ledger.fill(third, call("0"), live=True)
    finished = ledger.finished_calls()
    assert finished is not None
    assert [c.output for c in finished] == ["a", "b", "0"]
    assert ledger.made == 3


def test_a_call_left_open_means_no_recording() -> None:
    ledger = Ledger(None)
    ledger.reserve()
    assert ledger.finished_calls() is None


def test_a_dropped_attempt_leaves_no_gap() -> None:
    ledger = Ledger(None)
    failed = ledger.reserve()
    ledger.drop(failed)
    retry = ledger.reserve()
    ledger.fill(retry, call("a"), live=True)
    assert [c.output for c in ledger.finished_calls() or []] == ["a"]
    assert ledger.live_calls() == [ledger.new_calls[retry]]


def test_a_request_no_retry_answered_is_said_and_one_a_retry_answered_is_not() -> None:
    ledger = Ledger(None)
    answered, given_up = call("a"), call("b")
    for status in ("HTTP 429", "HTTP 503"):
        ledger.drop(ledger.reserve(), answered.request, status)
    ledger.fill(ledger.reserve(), answered, live=True)
    ledger.drop(ledger.reserve(), given_up.request, "HTTP 500")
    assert ledger.unanswered() == [(given_up.request, "HTTP 500")]
