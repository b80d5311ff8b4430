"""Resolve the plugin's settings: marker > command line > ini > default, validated once."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Literal

import pytest

Mode = Literal["replay", "live", "record"]
MODES: tuple[Mode, ...] = ("replay", "live", "record")
DEFAULT_MODE: Mode = "replay"
# A fixed default, not a random one as in pytest-randomly: snapshots are keyed by seed, so the
# default must be the same on every machine and every run.
DEFAULT_SEED = 42
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def seed_type(value: str) -> int:
    """argparse type for --llm-seed: a whole number, as the OpenAI API takes."""
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--llm-seed takes a whole number, like --llm-seed=42; got {value!r}"
        ) from None


def mode_type(value: str) -> Mode:
    if value not in MODES:
        raise argparse.ArgumentTypeError(
            f"--llm-mode takes one of {', '.join(MODES)}; got {value!r}"
        )
    return value


@dataclass(frozen=True)
class RunSettings:
    """What holds for the whole run, resolved in pytest_configure."""

    mode: Mode
    mode_source: str
    seed: int
    seed_source: str
    base_url: str | None


def resolve_run_settings(config: pytest.Config) -> RunSettings:
    update = bool(getattr(config.option, "update_snapshots", False))
    cli_mode: str | None = config.getoption("llm_mode")
    ini_mode = str(config.getini("llm_mode") or "").strip()
    if cli_mode is not None:
        if update and cli_mode != "record":
            raise pytest.UsageError(
                f"--snapshot-update re-records snapshots, but --llm-mode={cli_mode} was given: "
                "drop one of them (--snapshot-update alone records)."
            )
        mode, mode_source = mode_type(cli_mode), "--llm-mode"
    elif update:
        mode, mode_source = "record", "--snapshot-update"
    elif ini_mode:
        try:
            mode = mode_type(ini_mode)
        except argparse.ArgumentTypeError:
            raise pytest.UsageError(
                f"ini option llm_mode takes one of {', '.join(MODES)}; got {ini_mode!r}"
            ) from None
        mode_source = "ini llm_mode"
    else:
        mode, mode_source = DEFAULT_MODE, "default"

    cli_seed: int | None = config.getoption("llm_seed")
    ini_seed = str(config.getini("llm_seed") or "").strip()
    if cli_seed is not None:
        seed, seed_source = cli_seed, "--llm-seed"
    elif ini_seed:
        try:
            seed = int(ini_seed)
        except ValueError:
            raise pytest.UsageError(
                f"ini option llm_seed takes a whole number; got {ini_seed!r}"
            ) from None
        seed_source = "ini llm_seed"
    else:
        seed, seed_source = DEFAULT_SEED, "default"

    base_url = str(config.getini("llm_base_url") or "").strip() or None
    return RunSettings(mode, mode_source, seed, seed_source, base_url)


def seed_for(item: pytest.Item, run: RunSettings) -> int:
    """The seed one test uses: its ``llm(seed=N)`` marker, else the run's."""
    marker = item.get_closest_marker("llm")
    if marker is not None and "seed" in marker.kwargs:
        value = marker.kwargs["seed"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.llm(seed=...) takes a whole number, got {value!r}"
            )
        return value
    return run.seed


def client_base_url(run: RunSettings) -> str | None:
    """Base URL for the fixture clients: OPENAI_BASE_URL wins, as it does for openai itself."""
    return os.environ.get("OPENAI_BASE_URL") or run.base_url
