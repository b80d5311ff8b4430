"""Ticket triage built on the openai client, the way an app does it: it makes its own client
from the environment (OPENAI_BASE_URL, OPENAI_API_KEY) and owns its prompts."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from openai import OpenAI

CATEGORIES = ("billing", "bug", "account", "other")

SYSTEM = "You are a helpful customer support assistant for an online shop."

SUMMARY_PROMPT = "Summarise this support ticket in one short sentence.\n\nTicket:\n{ticket}"

CLASSIFY_PROMPT = (
    "Classify the support ticket into exactly one category: billing, bug, account or other.\n"
    "Answer with the category word only.\n\nTicket:\n{ticket}"
)

REPLY_PROMPT = "Write a short, polite reply to this customer.\n\nTicket:\n{ticket}"


def model() -> str:
    return os.environ.get("SUPPORT_BOT_MODEL", "smollm2-135m")


def _client() -> OpenAI:
    return OpenAI()


def _ask(prompt: str, *, max_tokens: int, client: OpenAI | None = None) -> str:
    response = (client or _client()).chat.completions.create(
        model=model(),
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0.7,
    )
    return (response.choices[0].message.content or "").strip()


def summarise(ticket: str, client: OpenAI | None = None) -> str:
    return _ask(SUMMARY_PROMPT.format(ticket=ticket), max_tokens=48, client=client)


def parse_category(answer: str) -> str:
    """The first category word in the model's answer; small models ramble, so look for it."""
    words = re.findall(r"[a-z]+", answer.lower())
    for word in words:
        if word in CATEGORIES:
            return word
        if word in ("payment", "refund", "invoice", "charge", "charged"):
            return "billing"
        if word in ("login", "password", "email"):
            return "account"
        if word in ("error", "crash", "broken"):
            return "bug"
    return "other"


def classify(ticket: str, client: OpenAI | None = None) -> str:
    return parse_category(_ask(CLASSIFY_PROMPT.format(ticket=ticket), max_tokens=8, client=client))


def draft_reply(ticket: str, client: OpenAI | None = None) -> Iterator[str]:
    """Stream the reply, as a support UI shows it while it is written."""
    stream = (client or _client()).chat.completions.create(
        model=model(),
        messages=[
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": REPLY_PROMPT.format(ticket=ticket)},
        ],
        max_tokens=64,
        temperature=0.7,
        stream=True,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


@dataclass(frozen=True)
class Triage:
    summary: str
    category: str


def triage(ticket: str, client: OpenAI | None = None) -> Triage:
    return Triage(summary=summarise(ticket, client), category=classify(ticket, client))
