"""The mode table: each mode's row says what the docs say it does (docs/modes-and-options.md)."""

from __future__ import annotations

from pytest_seeded.modes import DRIFT_POLICIES, MODE_NAMES, MODES


def test_every_mode_has_a_row_and_only_replay_is_offline() -> None:
    assert set(MODE_NAMES) == {"replay", "record", "record-new", "live"}
    assert [name for name, row in MODES.items() if not row.sends] == ["replay"]


def test_only_live_judges_and_only_recording_modes_write() -> None:
    assert [name for name, row in MODES.items() if row.judges] == ["live"]
    assert {name: row.writes for name, row in MODES.items()} == {
        "replay": "never",
        "record": "always",
        "record-new": "if-changed",
        "live": "never",
    }


def test_drift_policies_either_stop_the_test_or_go_on() -> None:
    for rule in DRIFT_POLICIES.values():
        goes_on = rule.outcome is None
        assert goes_on == (rule.compares or rule.records)
    assert DRIFT_POLICIES["warn"].warns
    assert DRIFT_POLICIES["warn"].compares
