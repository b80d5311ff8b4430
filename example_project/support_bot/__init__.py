"""A small support-ticket assistant: summarise, classify and draft replies with an LLM."""

from __future__ import annotations

from support_bot.triage import CATEGORIES, Triage, classify, draft_reply, summarise, triage

__all__ = ["CATEGORIES", "Triage", "classify", "draft_reply", "summarise", "triage"]
