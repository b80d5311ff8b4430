"""How a test's snapshot file is named: one name per test and seed, the same whether the seed
comes from a seed matrix or a single ``--llm-seed``, short enough for any file system, and never
shared by two tests.

A name is ``<test>[<parameters>][seed=<N>]``: the test's name with its parameter id, the seed
taken out of it (a seed matrix adds the seed as a parameter), then the seed. Where syrupy's
filename cleaning would lose characters (``a/b`` and ``ab`` both become ``ab``) or the name
would be too long, the parameters are cut and a digest of the full name is added, so two tests
never share a file.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

# The fixtures that put a test under the plugin; a seed matrix parametrizes one of them with
# the seed (plugin.pytest_generate_tests), which is how a name finds the seed among the ids.
LLM_FIXTURES = ("seeded_calls", "seeded_llm", "seeded_async_llm", "llm_seed")
# The folder beside a test module that holds its recordings: not syrupy's __snapshots__, which
# syrupy's own extensions walk and clean up (with this plugin disabled or not installed, they
# took its files for unknown ones and deleted them under --snapshot-update). Recordings found
# in the folder earlier versions used are read, and moved here when recorded again.
SNAPSHOT_DIRNAME = "__llm_snapshots__"
LEGACY_DIRNAME = "__snapshots__"
# The snapshot files' extension: "seeded.jsonc", not ".json": syrupy's JSONSnapshotExtension
# claims every file ending in .json and deletes ours as unused under --snapshot-update. JSONC is
# a superset of JSON, so editors still highlight it, and no syrupy extension claims it.
FILE_EXTENSION = "seeded.jsonc"
SNAPSHOT_SUFFIX = f".{FILE_EXTENSION}"
# What syrupy's --snapshot-ignore-file-extensions compares with: a name's last suffix.
IGNORE_NAME = FILE_EXTENSION.rsplit(".", 1)[-1]

_EXCLUDED = frozenset('\\/?*:|"<>')
# A file name may have 255 bytes; the atomic write's temporary file adds ".<name>.<8>.tmp"
# (14 bytes) and the extension ".seeded.jsonc" 13 more. 200 leaves room for both.
MAX_STEM_BYTES = 200
DIGEST_CHARS = 10
_SEED_SUFFIX = re.compile(r"\[seed=-?\d+\]$")
# Earlier versions named a seed-matrix file after the test id, where the seed is one of the
# parameters: test_topic[seed=2-rain].
_MATRIX_SEED = re.compile(r"^seed=-?\d+(?:-|$)|-seed=-?\d+(?=-|$)")


def matrix_seed(item: pytest.Item) -> int | None:
    """The seed a seed matrix gave this test, or None outside one."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    # pytest_generate_tests puts the seed on one of the LLM fixtures.
    for name in LLM_FIXTURES:
        if name in params:
            return int(params[name])
    return None


def parameter_ids(item: pytest.Item) -> list[str]:
    """The test's parameter ids, without the seed a matrix added."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return []
    ids = [str(i) for i in getattr(callspec, "_idlist", ())]
    if not ids and "[" in item.name:  # pytest without _idlist: one id holding them all
        ids = [item.name[item.name.index("[") + 1 : -1]]
    seed = matrix_seed(item)
    if seed is not None:
        token = f"seed={seed}"
        if token in ids:
            ids.remove(token)
        elif ids:
            ids = [_MATRIX_SEED.sub("", "-".join(ids), count=1)]
    return [i for i in ids if i]


def _test_name(item: pytest.Item) -> str:
    """Class path and function name, as syrupy names it: TestClass.test_method."""
    parts = item.nodeid.split("::")[1:]
    function = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    return ".".join([*parts[:-1], function])


@functools.lru_cache(maxsize=256)
def snapshot_folder(filepath: str, snapshot_dirname: str = SNAPSHOT_DIRNAME) -> str:
    """The folder of a test module's snapshot files: __llm_snapshots__/<module>, laid out as
    syrupy lays out single-file snapshots."""
    path = Path(filepath)
    return os.path.normpath(path.parent / snapshot_dirname / path.stem)


def legacy_folder(folder: str) -> str:
    """Where an earlier version kept the files of a snapshot folder: __snapshots__/<module>."""
    parent, module = os.path.split(folder)
    return os.path.join(os.path.dirname(parent), LEGACY_DIRNAME, module)


def _clean(name: str) -> str:
    """syrupy's rule for file names: no path separators, wildcards or control characters.
    Written out here rather than called: syrupy keeps it private (``__clean_filename`` in
    7.0.0, ``_sanitize_filename`` since)."""
    return "".join(
        c for c in name if c not in _EXCLUDED and not unicodedata.category(c).startswith("C")
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


def _fit(text: str, budget: int) -> str:
    """The longest prefix of ``text`` whose UTF-8 form fits in ``budget`` bytes."""
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= budget:
        return text
    return encoded[:budget].decode("utf-8", "ignore")


def base_name(item: pytest.Item) -> str:
    """The seedless part of a test's snapshot name: ``test_x`` or ``test_x[params]``."""
    return _names(item)[0]


def _names(item: pytest.Item) -> tuple[str, str]:
    """(today's base name, the cleaned name earlier versions used), cleaned once."""
    name = _test_name(item)
    ids = parameter_ids(item)
    raw = f"{name}[{'-'.join(ids)}]" if ids else name
    clean = _clean(raw)
    # Room for "[seed=-2147483648]" after the base.
    budget = MAX_STEM_BYTES - 20
    if clean == raw and len(raw.encode("utf-8", "surrogatepass")) <= budget:
        return raw, clean
    # Lossy or too long: keep a readable prefix, and a digest of the full name that tells
    # this test from any other whose name cleans or cuts to the same prefix.
    digest = _digest(raw)
    head = _clean(name)
    params = _clean("-".join(ids))
    room = budget - len(head.encode()) - DIGEST_CHARS - 3
    if room < 0:  # a function name longer than any file name: cut it too
        return f"{_fit(head, budget - DIGEST_CHARS - 3)}[~{digest}]", clean
    return f"{head}[{_fit(params, room)}~{digest}]", clean


def stem(item: pytest.Item, seed: int) -> str:
    """The snapshot file's name without its extension."""
    return f"{base_name(item)}[seed={seed}]"


def legacy_stems(item: pytest.Item, seed: int) -> list[str]:
    """Names earlier versions gave this test's file, still read (and renamed on record) so that
    no recording is lost to a change of naming."""
    test_name = _test_name(item)
    names = []
    if matrix_seed(item) is not None:
        # A seed matrix used the test id, seed parameter included, as the whole name.
        names.append(_clean(test_name + item.name[item.name.index("[") :]))
    ids = parameter_ids(item)
    if ids:
        # The same file, read by a single-seed run.
        names.append(_clean(f"{test_name}[seed={seed}-{'-'.join(ids)}]"))
    # Today's name before a digest replaced what cleaning lost.
    names.append(f"{_names(item)[1]}[seed={seed}]")
    own = stem(item, seed)
    return [n for n in dict.fromkeys(names) if n != own]


def owner_key(file_stem: str) -> str:
    """The seedless name a snapshot file belongs to, whichever seed and naming it has."""
    match = _SEED_SUFFIX.search(file_stem)
    if match:
        return file_stem[: match.start()]
    # Earlier seed-matrix names: test_x[seed=2] and test_x[seed=2-rain].
    if file_stem.endswith("]") and "[" in file_stem:
        head, _, inner = file_stem[:-1].partition("[")
        inner = _MATRIX_SEED.sub("", inner, count=1)
        return f"{head}[{inner}]" if inner else head
    return file_stem


def owner_keys(item: pytest.Item) -> set[str]:
    """Every seedless name under which a file belongs to this test (today's and earlier)."""
    return set(_names(item))
