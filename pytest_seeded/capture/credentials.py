"""Replay needs no credentials: an SDK hook that runs the user's code to get one (the
``azure_ad_token_provider`` of openai's Azure clients, which asks Azure AD over the network) is
answered with a placeholder while a replayed test runs. Nothing is sent in replay, so the
placeholder is never checked. Patched only if the Azure client was imported."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_seeded.modes import PLACEHOLDER_KEY

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls

# Placeholder credentials for the SDKs the plugin answers in replay, set before collection
# (session.run_environment): a module that builds its client at import (OpenAI(), Anthropic(),
# a Gemini client) must not need a real key to be collected.
__all__ = ["PLACEHOLDER_KEY"]
PLACEHOLDER_ENVIRONMENT = (
    "OPENAI_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "CO_API_KEY",  # cohere
    "MISTRAL_API_KEY",
)
# boto3 signs every request and looks for credentials as far as the instance metadata
# service (a network call) when none is set: a placeholder pair in replay, unless a profile
# or a key is set.
AWS_PLACEHOLDERS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


class _Placeholders:
    name = "credential placeholders (Azure AD token providers)"

    def applies(self, calls: TestCalls) -> bool:
        return not calls.rules.sends

    def enter(self, calls: TestCalls) -> Callable[[], None]:
        return set_placeholders()


ENVIRONMENT = _Placeholders()


def set_placeholders() -> Callable[[], None]:
    """Answer token providers with the placeholder; the function returned undoes it."""
    azure = sys.modules.get("openai.lib.azure")
    if azure is None:
        return _nothing
    sync_class, async_class = azure.AzureOpenAI, azure.AsyncAzureOpenAI
    sync_original = sync_class._get_azure_ad_token
    async_original = async_class._get_azure_ad_token

    def sync_token(self: Any) -> str | None:
        if self._azure_ad_token is None and self._azure_ad_token_provider is not None:
            return PLACEHOLDER_KEY
        return sync_original(self)  # type: ignore[no-any-return]

    async def async_token(self: Any) -> str | None:
        if self._azure_ad_token is None and self._azure_ad_token_provider is not None:
            return PLACEHOLDER_KEY
        return await async_original(self)  # type: ignore[no-any-return]

    sync_class._get_azure_ad_token = sync_token
    async_class._get_azure_ad_token = async_token

    def restore() -> None:
        sync_class._get_azure_ad_token = sync_original
        async_class._get_azure_ad_token = async_original

    return restore


def _nothing() -> None:
    return None
