"""One test's calls: the mode table (modes.py) applied to each request a capture adapter hands
over, and the verdicts the test gets. A request comes in as an ``httpx2.Request``, whichever
client sent it; it leaves as an answer from the snapshot, a refusal, or a slot for the core to
fill with the server's answer. Nothing here does I/O or compares a mode's name, and sync and
async clients share all of it.

An LLM call (apis/endpoints.py) is seeded with the test's seed where its API takes one. The
test's other HTTP is never seeded or compared, but is recorded and replayed with its test.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx2

from pytest_seeded.apis.endpoints import (
    Endpoint,
    add_tokens,
    classify,
    identity_of,
    is_telemetry,
    output_of,
    sent_by_sdk,
)
from pytest_seeded.apis.forms import stored_body
from pytest_seeded.apis.ids import ServerIds
from pytest_seeded.determinism import Sample
from pytest_seeded.exchange import Prepared, prepare, recordable, stored_answer, whole_answer
from pytest_seeded.ledger import Ledger
from pytest_seeded.live import agreement, answer_of_identity, judge, sample_of
from pytest_seeded.messages import TestContext, unmatched
from pytest_seeded.modes import PLACEHOLDER_KEY, ModeRules, Outcome
from pytest_seeded.settings import host_listed
from pytest_seeded.stats import CallStats
from pytest_seeded.storage.snapshot import (
    JSON_CONTENT_TYPE,
    RecordedCall,
    RecordedResponse,
    Recording,
)
from pytest_seeded.verdicts import Verdict, refusal_body

# Where a call needs the user's OpenAI key (the fixtures' default base URL).
OPENAI_HOST = "api.openai.com"


class TestCalls:
    """Every call one test makes, answered according to the mode."""

    __test__ = False  # not a test class, whatever pytest's collection thinks of the name

    def __init__(self, test: TestContext, recorded: Recording | None) -> None:
        self.test = test
        self.rules: ModeRules = test.settings.rules
        self.mode = self.rules.name
        self.seed = test.seed
        self.nodeid = test.nodeid
        self.snapshot_path = test.snapshot_path
        run = test.settings.run
        self.repeat = run.repeat if self.rules.sends else 1
        # Hosts (host or host:port) whose requests pass untouched: llm_passthrough_hosts.
        self.passthrough = run.passthrough_hosts
        self.ledger = Ledger(recorded)
        # Why a call to api.openai.com cannot go out (no key), said when one would.
        self.cannot_call: str | None = None
        # Set when the drift policy says "record": live calls are written at teardown.
        self.rerecord = False
        # The call phase's outcome ("passed", ...) once pytest reports it; a test that did not
        # pass records nothing.
        self.outcome: str | None = None
        self.stats = CallStats()
        # What the calls decided about the test; reported when pytest reports the test.
        self.verdicts: list[Verdict] = []
        self.verdicts_reported = 0
        # Live streams handed to the test, read to their end at teardown at the latest.
        self.open_streams: list[Any] = []
        # live: the ids the server made this run, for the recorded ones (apis/ids.py).
        self.ids = ServerIds()
        # Set when the test's window closes: what its threads send after that is a stray.
        self.finished = False
        # live: the model behind one of the test's calls changed (drift).
        self.drifted = False

    # -- a request comes in ---------------------------------------------------------------

    def prepare(self, request: httpx2.Request, *, seed: bool = True) -> Prepared:
        """The request as sent and stored (exchange.py), seeded unless ``seed=False``."""
        settings = self.test.settings
        return prepare(
            request,
            seed=self.seed if seed else None,
            sends=self.rules.sends,
            scrub=settings.run.scrub_fields,
            hook=self.test.hook,
            seed_hosts=settings.run.seed_hosts,
        )

    def answer_offline(self, prepared: Prepared) -> RecordedResponse | httpx2.Response | None:
        """The answer from the snapshot where the mode gives one (a recorded response, or a
        refusal that fails the test); None to send the request."""
        rules = self.rules
        if not rules.sends and is_telemetry(prepared.request.url.host, prepared.request.url.path):
            # Never recorded (passes_through sends it when the mode sends), never sent here.
            return httpx2.Response(204, request=prepared.request)
        # A live run's other HTTP too: its model then sees the tool results it saw when recorded.
        if not (rules.answers_from_snapshot or (rules.replays_other_http and not prepared.is_llm)):
            return self._without_key(prepared)
        call = self.ledger.take(prepared.recorded)
        if call is not None:
            if rules.sends:  # kept in the new recording beside the calls that were sent
                self.ledger.fill(self.ledger.reserve(), call, live=False)
            return self._replayed(call, prepared.endpoint)
        if not rules.sends:
            # No slot was reserved: this is the call after the ones answered so far.
            return self._refuse(self._missing(prepared, self.ledger.used + 1), prepared)
        if not rules.answers_from_snapshot:
            # live: the code asked its tools for something else. After drift it may: sent.
            if not self.drifted:
                return self._refuse(self._missing(prepared, self.ledger.made + 1), prepared)
            self.stats.http_sent += 1
            return None
        if self.ledger.recorded is None:
            reason = "no snapshot"
        else:
            reason = f"the request of call #{self.ledger.made + 1} is not in the snapshot"
        if reason not in self.stats.recorded_because:
            self.stats.recorded_because.append(reason)
        return self._without_key(prepared)

    def _without_key(self, prepared: Prepared) -> httpx2.Response | None:
        if self.cannot_call is None or not _sent_without_key(prepared):
            return None
        return self._refuse(self.cannot_call, prepared)

    def _replayed(self, call: RecordedCall, endpoint: Endpoint | None) -> RecordedResponse:
        self.stats.note(self.ledger.used, _api(endpoint), "replayed", call.identity)
        if endpoint is None:
            self.stats.http_replayed += 1
        else:
            self.stats.replayed += 1
            add_tokens(self.stats.tokens_saved, endpoint, call.response)
        return call.response

    def reserve(self) -> int:
        return self.ledger.reserve()

    def drop(self, slot: int, prepared: Prepared, why: str) -> None:
        """The attempt failed (a refused connection, a transient status): the client may retry;
        if none answers, the test's recording would lack it (testrun.py refuses to write it)."""
        self.ledger.drop(slot, prepared.recorded, why)

    def keeps(self, prepared: Prepared, status: int) -> bool:
        return recordable(prepared, status)

    # -- the answer comes back ------------------------------------------------------------

    def sample(self, endpoint: Endpoint, content_type: str, status: int, body: bytes) -> Sample:
        """One of --llm-repeat's extra answers, read whole."""
        recorded = whole_answer(content_type, status, body, loose=True)
        add_tokens(self.stats.tokens_spent, endpoint, recorded)
        return sample_of(endpoint, recorded)

    def complete(
        self, prepared: Prepared, slot: int, response: RecordedResponse, extra: list[Sample]
    ) -> None:
        """A sent request's whole answer: kept for the recording, and judged when the mode
        judges."""
        endpoint = prepared.endpoint
        if endpoint is not None:
            add_tokens(self.stats.tokens_spent, endpoint, response)
        response = stored_answer(
            prepared, response, self.test.settings.run.scrub_fields, self.test.hook
        )
        if endpoint is None:  # the test's other HTTP
            self.ledger.fill(slot, RecordedCall(prepared.recorded, response, None, ""), live=True)
            self.stats.note(slot + 1, "http", self.rules.sent_verb)
            if self.rules.judges and not self.rules.replays_other_http:
                self.stats.http_sent += 1  # llm_live_other_http=live: sent, not compared
            return
        fingerprint, model = identity_of(endpoint, response)
        fingerprint = fingerprint or prepared.served
        output = output_of(endpoint, response)
        call = RecordedCall(prepared.recorded, response, fingerprint, output, model)
        self.ledger.fill(slot, call, live=True)
        if not self.rules.judges:
            self.stats.note(slot + 1, endpoint.name, self.rules.sent_verb, call.identity)
        if extra:
            samples = [sample_of(endpoint, response), *extra]
            found, verdict = agreement(self.test, slot + 1, samples, prepared.seed)
            self.stats.determinism += found
            if verdict is not None:
                self.verdicts.append(verdict)
        if self.rules.judges:
            self._judge(prepared, endpoint, slot + 1, call)

    def _judge(
        self, prepared: Prepared, endpoint: Endpoint, number: int, call: RecordedCall
    ) -> None:
        """Judge a live answer against the recorded call for its request (ids the server made
        earlier in the test matched as the recorded ones), and apply what live.py decided."""
        expected = self.ledger.take(self.ids.translate(prepared.recorded))
        if expected is None:
            # The test goes on with the live answer; it fails when pytest reports it.
            self.decide("failed", self._missing(prepared, self.ledger.made))
            return
        same = answer_of_identity(endpoint, expected, call)
        # Ids this answer made stand for the recorded answer's in later requests.
        self.ids.learn((same or expected).response, call.response)
        # Every call is judged, whatever an earlier call's drift decided: a drift policy that
        # records the new identity's answers does not excuse a changed one of a known identity.
        args = (prepared.recorded, expected, same, call, prepared.seed)
        for judged in judge(self.test, endpoint, number, *args):
            self.stats.judged(number, endpoint.name, judged)
            if judged.warning is not None:
                warnings.warn(judged.warning, stacklevel=1)
            self.rerecord = self.rerecord or judged.rerecord
            self.drifted = self.drifted or judged.drift is not None
            if judged.outcome is not None:
                self.verdicts.append(judged.outcome)

    def decide(self, outcome: Outcome, message: str) -> None:
        """Record a verdict about this test: reported when pytest reports it (verdicts.py)."""
        self.verdicts.append(Verdict(outcome, message))

    def _refuse(self, message: str, prepared: Prepared) -> httpx2.Response:
        """Fail the test, and the call in a way every SDK gives up on at once: an HTTP 400."""
        self.decide("failed", message)
        return httpx2.Response(
            400,
            headers={"content-type": JSON_CONTENT_TYPE},
            content=refusal_body(message),
            request=prepared.request,
        )

    def _missing(self, prepared: Prepared, number: int) -> str:
        """Count a request the snapshot does not hold, and say why."""
        message = unmatched(self.test, self.ledger, prepared.recorded)
        self.stats.missing += 1
        self.stats.note(number, _api(prepared.endpoint), "missing", why=message)
        return message

    @property
    def made(self) -> int:
        return self.ledger.made


def _api(endpoint: Endpoint | None) -> str:
    return "http" if endpoint is None else endpoint.name


def passes_through(request: httpx2.Request, sends: bool, hosts: frozenset[str]) -> bool:
    """Whether the request goes out untouched: telemetry when the mode sends, and other HTTP to
    a host in llm_passthrough_hosts (alone, or with its port). An LLM call is never let
    through unrecorded, whatever its host."""
    url = request.url
    if is_telemetry(url.host, url.path):
        return sends
    if not host_listed(hosts, url.host, url.port):
        return False
    body = stored_body(request.read(), request.headers.get("content-type", ""))
    agent = request.headers.get("user-agent", "")
    is_llm = classify(request.method, url.path, body, url.host, agent) is not None
    return not is_llm and not sent_by_sdk(request.headers)


def _sent_without_key(prepared: Prepared) -> bool:
    """A call to api.openai.com with no key (or the placeholder): refused, saying why."""
    request = prepared.request
    if not prepared.is_llm or request.url.host != OPENAI_HOST:
        return False
    return request.headers.get("authorization", "") in ("", f"Bearer {PLACEHOLDER_KEY}")
