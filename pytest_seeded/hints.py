"""The commands a message tells the user to paste: they must work from the folder pytest was
started in, and repeat the run's seed (a re-record under the default seed would write another
file and leave the failing one as it was)."""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

from pytest_seeded.storage.naming import parameter_ids

if TYPE_CHECKING:
    import pytest

    from pytest_seeded.settings import RunSettings


def node_argument(item: pytest.Item, *, drop_seed_param: bool = False) -> str:
    """The test's node id with its path relative to the invocation folder; optionally without
    the seed-matrix parameter (for a command that sets the seed with --llm-seed instead)."""
    config = item.config
    path, _, rest = item.nodeid.partition("::")
    shown = os.path.relpath(os.path.join(config.rootpath, path), config.invocation_params.dir)
    if drop_seed_param and "[" in rest:
        ids = parameter_ids(item)
        rest = rest[: rest.index("[")] + (f"[{'-'.join(ids)}]" if ids else "")
    return f"{shown}::{rest}" if rest else shown


def rerecord_command(item: pytest.Item, seed: int, settings: RunSettings) -> str:
    """``pytest <test> --llm-mode=record [--llm-seed=N]``, quoted for a shell."""
    marker = item.get_closest_marker("llm")
    from_marker = marker is not None and ("seed" in marker.kwargs or "seeds" in marker.kwargs)
    args = ["pytest"]
    if from_marker or settings.seed_source != "--llm-seed":
        # The marker or the ini file gives the same seed again on a plain run.
        args.append(node_argument(item))
    else:
        # A seed from the command line: name it, and drop the matrix parameter it made (a
        # single seed uses the same file as the matrix's run of that seed).
        args.append(node_argument(item, drop_seed_param=len(settings.seeds) > 1))
        args.append(f"--llm-seed={seed}")
    args.append("--llm-mode=record")
    return shlex.join(args)
