"""Frameworks' own answer caches, set aside while a test uses the plugin. A cached answer is a
call the plugin never sees: DSPy's disk cache made a replay pass with no snapshot at all, and
would make a live run compare nothing. DSPy's cache (on by default, on disk) and litellm's
(when the user set one) are swapped for none during the test and put back after it; nothing is
imported that the code under test did not import."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls


def set_aside() -> Callable[[], None]:
    """Turn the caches off; the function returned turns them back on."""
    undo: list[Callable[[], None]] = []
    dspy = sys.modules.get("dspy")
    if dspy is not None:
        cache_class = importlib.import_module("dspy.clients.cache").Cache
        state = vars(dspy)
        had, old = "cache" in state, state.get("cache")
        # Not built yet is a state too: dspy builds its default cache on first read.
        state["cache"] = cache_class(
            enable_disk_cache=False, enable_memory_cache=False, disk_cache_dir=None
        )

        def restore_dspy() -> None:
            if had:
                state["cache"] = old
            else:
                state.pop("cache", None)

        undo.append(restore_dspy)
    litellm = sys.modules.get("litellm")
    if litellm is not None and vars(litellm).get("cache") is not None:
        litellm_state = vars(litellm)
        old_litellm = litellm_state["cache"]
        litellm_state["cache"] = None
        undo.append(lambda: litellm_state.__setitem__("cache", old_litellm))

    def restore() -> None:
        for step in undo:
            step()

    return restore


class _Caches:
    name = "frameworks' answer caches (DSPy, litellm)"

    def applies(self, calls: TestCalls) -> bool:
        return True

    def enter(self, calls: TestCalls) -> Callable[[], None]:
        return set_aside()


ENVIRONMENT = _Caches()
