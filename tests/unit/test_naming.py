"""How a snapshot file is named, and which test owns a file."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pytest_seeded.storage.naming import (
    MAX_STEM_BYTES,
    _clean,
    base_name,
    legacy_stems,
    owner_key,
    owner_keys,
    stem,
)


def item(nodeid: str, ids: list[str] | None = None, params: dict[str, Any] | None = None) -> Any:
    """A stand-in for a pytest item: what naming reads of one."""
    name = nodeid.split("::")[-1]
    callspec = None if ids is None else SimpleNamespace(_idlist=ids, params=params or {})
    return SimpleNamespace(
        nodeid=nodeid, name=name, originalname=name.split("[", 1)[0], callspec=callspec
    )


def test_a_plain_test_is_named_after_its_function_and_seed() -> None:
    assert stem(item("test_x.py::test_rain"), 42) == "test_rain[seed=42]"
    assert stem(item("test_x.py::TestA::test_b"), 1) == "TestA.test_b[seed=1]"


def test_a_seed_matrix_name_is_the_single_seed_name() -> None:
    single = item("t.py::test_a[rain]", ids=["rain"])
    matrix = item("t.py::test_a[seed=3-rain]", ids=["seed=3", "rain"], params={"llm_seed": 3})
    assert stem(single, 3) == stem(matrix, 3) == "test_a[rain][seed=3]"


def test_names_that_clean_alike_stay_apart() -> None:
    a = base_name(item("t.py::test_a[x/y]", ids=["x/y"]))
    b = base_name(item("t.py::test_a[xy]", ids=["xy"]))
    assert a != b
    assert "~" in a  # a digest tells it from the name that cleans to the same


def test_a_long_name_is_cut_to_fit_a_file_system() -> None:
    name = stem(item("t.py::test_a[" + "p" * 400 + "]", ids=["p" * 400]), -2147483648)
    assert len(name.encode()) <= MAX_STEM_BYTES


def test_owner_keys_read_every_naming() -> None:
    assert owner_key("test_a[rain][seed=7]") == "test_a[rain]"
    assert owner_key("test_a[seed=7-rain]") == "test_a[rain]"
    assert owner_key("test_a[seed=7]") == "test_a"
    it = item("t.py::test_a[rain]", ids=["rain"])
    assert owner_key(stem(it, 5)) in owner_keys(it)
    for legacy in legacy_stems(it, 5):
        assert owner_key(legacy) in owner_keys(it)


def test_names_are_cleaned_by_syrupy_s_rule() -> None:
    # syrupy keeps its rule private (and renamed it within 7.x): the plugin writes it out, and
    # this holds the two together on whichever syrupy is installed.
    from syrupy.extensions.single_file import SingleFileSnapshotExtension as Single

    private = ("_sanitize_filename", "_SingleFileSnapshotExtension__clean_filename")
    syrupy_rule = next(getattr(Single, name) for name in private if hasattr(Single, name))
    for name in ["a/b\\c", 'q?*:|"<>', "tab\there", "nul\x00", "é ü 雨", "zero\u200bwidth"]:
        assert _clean(name) == syrupy_rule(name)
