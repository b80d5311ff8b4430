"""The support bot's tests. In replay (the default) they run offline from the snapshots in
__llm_snapshots__/; with --llm-mode=live they call the model and compare."""

from __future__ import annotations

import pytest
from support_bot import CATEGORIES, classify, draft_reply, summarise, triage
from support_bot.triage import parse_category

REFUND = "I was charged twice for order #4521. Please refund the second payment."
LOGIN = "I can't log in since yesterday, the password reset email never arrives."
CRASH = "The app crashes every time I open my basket on Android."


def test_summary_is_one_short_sentence(seeded_calls):
    # The app builds its own OpenAI() client; the plugin seeds and answers it.
    summary = summarise(REFUND)
    assert summary
    assert len(summary) < 400


@pytest.mark.parametrize("ticket", [REFUND, LOGIN, CRASH], ids=["refund", "login", "crash"])
def test_classify_gives_a_known_category(seeded_calls, ticket):
    assert classify(ticket) in CATEGORIES


def test_reply_streams_in_pieces(seeded_calls):
    pieces = list(draft_reply(CRASH))
    assert len(pieces) > 1
    assert "".join(pieces).strip()


def test_triage_with_the_fixture_client(seeded_llm):
    result = triage(LOGIN, client=seeded_llm)
    assert result.summary
    assert result.category in CATEGORIES


@pytest.mark.llm(seed=7)
def test_another_seed_has_its_own_snapshot(seeded_calls):
    assert summarise(CRASH)


def test_parse_category_without_a_model():
    assert parse_category("Category: Billing.") == "billing"
    assert parse_category("I think it's about a refund") == "billing"
    assert parse_category("no idea") == "other"
