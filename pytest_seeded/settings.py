"""Resolve the plugin's settings: marker > command line > ini > default, validated once, with
errors that say which option was wrong and what it takes."""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_seeded.compare import Policy, parse_policy
from pytest_seeded.modes import (
    DEFAULT_DRIFT,
    DEFAULT_MODE,
    DRIFT_NAMES,
    MODE_NAMES,
    OTHER_HTTP_CHOICES,
    Mode,
    ModeRules,
    rules,
)
from pytest_seeded.storage.scrub import field_names

ON_OLD_POLICIES = ("warn", "fail")
# A fixed default, not a random one as in pytest-randomly: snapshots are keyed by seed, so the
# default must be the same on every machine and every run.
DEFAULT_SEED = 42
DEFAULT_COMPARE = "exact"
MARKER_KEYS = ("seed", "seeds", "compare", "on_drift")
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


def seed_type(value: str) -> tuple[int, ...]:
    """argparse type for --llm-seed: a whole number, or several separated by commas."""
    try:
        seeds = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "takes a whole number, like 42, or several separated by commas, like 1,2,3; "
            f"got {value!r}"
        ) from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"lists a seed twice: {value!r}")
    return seeds


def mode_type(value: str) -> Mode:
    for mode in MODE_NAMES:
        if value == mode:
            return mode
    raise argparse.ArgumentTypeError(f"takes one of {', '.join(MODE_NAMES)}; got {value!r}")


def compare_type(value: str) -> Policy:
    try:
        return parse_policy(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def drift_type(value: str) -> str:
    if value not in DRIFT_NAMES:
        raise argparse.ArgumentTypeError(f"takes one of {', '.join(DRIFT_NAMES)}; got {value!r}")
    return value


# A call answered by a provider that serves one model from several backends keeps each one's
# answer; three covers a rollout (old, new, and one more) without growing a file forever.
DEFAULT_KEEP_IDENTITIES = 3


def repeat_type(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number >= 1; got {value!r}")
    return number


def age_type(value: str) -> float:
    """argparse type for --llm-max-age: a number of days, like 90 or 0.5."""
    try:
        days = float(value)
    except ValueError:
        days = -1.0
    if not days > 0:
        raise argparse.ArgumentTypeError(f"takes a number of days > 0, like 180; got {value!r}")
    return days


def on_old_type(value: str) -> str:
    if value not in ON_OLD_POLICIES:
        raise argparse.ArgumentTypeError(
            f"takes one of {', '.join(ON_OLD_POLICIES)}; got {value!r}"
        )
    return value


def host_listed(hosts: frozenset[str], host: str, port: object) -> bool:
    """Whether an ini host list (llm_passthrough_hosts, llm_seed_hosts) names this host, alone
    or with its port."""
    return bool(hosts) and (host in hosts or f"{host}:{port}" in hosts)


def other_http_type(value: str) -> str:
    if value not in OTHER_HTTP_CHOICES:
        raise argparse.ArgumentTypeError(f"takes {' or '.join(OTHER_HTTP_CHOICES)}; got {value!r}")
    return value


def agreement_type(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"takes a rate from 0 to 1, like 0.8; got {value!r}")
    return rate


# Embeddings of the same text by the same model agree to rounding (1e-6 and below).
DEFAULT_MIN_COSINE = 0.999


@dataclass(frozen=True)
class RunSettings:
    """What holds for the whole run, resolved in pytest_configure."""

    mode: Mode
    mode_source: str
    seeds: tuple[int, ...]
    seed_source: str
    base_url: str | None
    compare: Policy
    on_drift: str
    repeat: int = 1
    min_agreement: float = 1.0
    report_path: str | None = None
    # --llm-report-html: the self-contained HTML page (report_html.py).
    html_path: str | None = None
    # JSON fields and query parameters never stored (lower-cased), from ini llm_scrub_fields.
    scrub_fields: frozenset[str] = frozenset()
    # Fields where text shaped like a credential may be stored (ini llm_allow_secret_fields).
    allow_secret_fields: frozenset[str] = frozenset()
    # Hosts whose HTTP passes untouched in every mode (ini llm_passthrough_hosts).
    passthrough_hosts: frozenset[str] = frozenset()
    # Hosts whose server takes a seed on every API shape (ini llm_seed_hosts).
    seed_hosts: frozenset[str] = frozenset()
    # Live runs: the test's other HTTP answered from the snapshot ("replay", so the model sees
    # the tool results it saw when recorded) or sent for real ("live"; ini llm_live_other_http).
    live_other_http: str = OTHER_HTTP_CHOICES[0]
    # How many identities' answers a call keeps (ini llm_keep_identities): the newest first.
    keep_identities: int = DEFAULT_KEEP_IDENTITIES
    # Snapshots recorded longer ago than this many days warn or fail (--llm-max-age).
    max_age_days: float | None = None
    on_old: str = "warn"
    # Embeddings pass live when each vector's cosine similarity is at least this (ini
    # llm_min_cosine).
    min_cosine: float = DEFAULT_MIN_COSINE

    @property
    def seed(self) -> int:
        return self.seeds[0]

    @functools.cached_property
    def rules(self) -> ModeRules:
        """What the run's mode does (modes.py)."""
        return rules(self.mode, self.live_other_http)


@dataclass(frozen=True)
class TestSettings:
    """What holds for one test, after its ``llm`` marker: the run's settings, and the test's
    own seed, comparison policy and drift policy."""

    __test__ = False

    run: RunSettings
    seed: int
    compare: Policy
    on_drift: str

    @property
    def rules(self) -> ModeRules:
        return self.run.rules

    @property
    def mode(self) -> Mode:
        return self.run.mode


def _ini(config: pytest.Config, name: str, parse: Any, source: str) -> Any:
    raw = str(config.getini(name) or "").strip()
    if not raw:
        return None
    try:
        return parse(raw)
    except argparse.ArgumentTypeError as exc:
        raise pytest.UsageError(f"ini option {source} {exc}") from None


def resolve_run_settings(config: pytest.Config) -> RunSettings:
    update = bool(getattr(config.option, "update_snapshots", False))
    cli_mode: Mode | None = config.getoption("llm_mode")
    if cli_mode is not None:
        if update and rules(cli_mode).writes == "never":
            raise pytest.UsageError(
                f"--snapshot-update re-records snapshots, but --llm-mode={cli_mode} was given: "
                "drop one of them (--snapshot-update alone records)."
            )
        mode, mode_source = cli_mode, "--llm-mode"
    elif update:
        mode, mode_source = "record", "--snapshot-update"
    elif (ini_mode := _ini(config, "llm_mode", mode_type, "llm_mode")) is not None:
        mode, mode_source = ini_mode, "ini llm_mode"
    else:
        mode, mode_source = DEFAULT_MODE, "default"

    seeds: tuple[int, ...] | None = config.getoption("llm_seed")
    seed_source = "--llm-seed"
    if seeds is None:
        seeds = _ini(config, "llm_seed", seed_type, "llm_seed")
        seed_source = "ini llm_seed"
    if seeds is None:
        seeds, seed_source = (DEFAULT_SEED,), "default"

    compare = config.getoption("llm_compare") or _ini(
        config, "llm_compare", compare_type, "llm_compare"
    )
    on_drift = config.getoption("llm_on_drift") or _ini(
        config, "llm_on_drift", drift_type, "llm_on_drift"
    )
    repeat: int = config.getoption("llm_repeat") or 1
    if repeat > 1 and not rules(mode).sends:
        raise pytest.UsageError(
            "--llm-repeat measures how deterministic the model is, so it needs calls to the "
            "model: add --llm-mode=live (or record)."
        )
    base_url = str(config.getini("llm_base_url") or "").strip() or None
    min_agreement = config.getoption("llm_min_agreement")
    max_age = config.getoption("llm_max_age") or _ini(
        config, "llm_max_age", age_type, "llm_max_age"
    )
    on_old = config.getoption("llm_on_old") or _ini(config, "llm_on_old", on_old_type, "llm_on_old")
    min_cosine = _ini(config, "llm_min_cosine", agreement_type, "llm_min_cosine")
    return RunSettings(
        mode=mode,
        mode_source=mode_source,
        seeds=seeds,
        seed_source=seed_source,
        base_url=base_url,
        compare=compare or parse_policy(DEFAULT_COMPARE),
        on_drift=on_drift or DEFAULT_DRIFT,
        repeat=repeat,
        min_agreement=1.0 if min_agreement is None else min_agreement,
        report_path=_report_path(config),
        html_path=_report_path(config, "llm_report_html", "llm-report.html"),
        scrub_fields=field_names(config.getini("llm_scrub_fields")),
        allow_secret_fields=field_names(config.getini("llm_allow_secret_fields")),
        passthrough_hosts=field_names(config.getini("llm_passthrough_hosts")),
        seed_hosts=field_names(config.getini("llm_seed_hosts")),
        live_other_http=_ini(config, "llm_live_other_http", other_http_type, "llm_live_other_http")
        or OTHER_HTTP_CHOICES[0],
        max_age_days=max_age,
        on_old=on_old or "warn",
        min_cosine=DEFAULT_MIN_COSINE if min_cosine is None else min_cosine,
        keep_identities=_ini(config, "llm_keep_identities", repeat_type, "llm_keep_identities")
        or DEFAULT_KEEP_IDENTITIES,
    )


def _report_path(
    config: pytest.Config, dest: str = "llm_report", example: str = "llm-report.json"
) -> str | None:
    """A report's path (--llm-report, --llm-report-html), checked before the first test runs:
    a run should not end in a traceback, without its summary, because of where the report was
    to go."""
    value: str | None = config.getoption(dest)
    if value is None:
        return None
    option = "--" + dest.replace("_", "-")
    path = Path(config.invocation_params.dir, value)
    if path.is_dir():
        raise pytest.UsageError(
            f"{option}={value} is a folder: name a file in it, like {path / example}"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise pytest.UsageError(
            f"{option}={value}: cannot write a file there ({exc.strerror}); name a path in "
            "a folder you can write to"
        ) from None
    return value


def marker_kwargs(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker("llm")
    if marker is None:
        return {}
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYS))
    if marker.args or unknown:
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.llm takes keyword arguments {', '.join(MARKER_KEYS)}; "
            f"got {', '.join(unknown) or repr(marker.args)}"
        )
    return dict(marker.kwargs)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def seeds_for(item: pytest.Item, run: RunSettings) -> tuple[int, ...]:
    """The seeds a test runs with: its marker's ``seed``/``seeds``, else the run's."""
    kwargs = marker_kwargs(item)
    if "seed" in kwargs:
        if not _whole(kwargs["seed"]):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.llm(seed=...) takes a whole number, "
                f"got {kwargs['seed']!r}"
            )
        return (kwargs["seed"],)
    if "seeds" in kwargs:
        seeds = kwargs["seeds"]
        if (
            not isinstance(seeds, (list, tuple))
            or not seeds
            or not all(_whole(s) for s in seeds)
            or len(set(seeds)) != len(seeds)
        ):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.llm(seeds=...) takes a list of different whole "
                f"numbers, got {seeds!r}"
            )
        return tuple(seeds)
    return run.seeds


def test_settings(item: pytest.Item, run: RunSettings, seed: int) -> TestSettings:
    kwargs = marker_kwargs(item)
    compare = run.compare
    if "compare" in kwargs:
        try:
            compare = parse_policy(str(kwargs["compare"]))
        except ValueError as exc:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.llm(compare=...): {exc}"
            ) from None
    on_drift = run.on_drift
    if "on_drift" in kwargs:
        on_drift = str(kwargs["on_drift"])
        if on_drift not in DRIFT_NAMES:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.llm(on_drift=...) takes one of "
                f"{', '.join(DRIFT_NAMES)}; got {kwargs['on_drift']!r}"
            )
    return TestSettings(run=run, seed=seed, compare=compare, on_drift=on_drift)


def client_base_url(run: RunSettings) -> str | None:
    """Base URL for the fixture clients: OPENAI_BASE_URL wins, as it does for openai itself."""
    return os.environ.get("OPENAI_BASE_URL") or run.base_url
