"""Shared fixtures: one loopback LLM server per run, reset for each test, and temporary projects
configured to talk to it."""

from __future__ import annotations

import gc
import socket
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

# pytester's in-process runs restore sys.modules after each run, dropping what the run
# imported. httpx2 (imported by the tests) caches httpcore2's exception classes on first use:
# if httpcore2 were imported inside a run, the next run's classes would not match that cache
# and a timeout would surface as a raw httpcore2 error. Import both here, once.
import httpcore2  # noqa: F401
import httpx2  # noqa: F401
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from llm_server import LLMServer, ServerState


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[LLMServer]:
    server = LLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_llm_server: LLMServer) -> LLMServer:
    state = _llm_server.state
    # Every setting back to its default, whatever the last test changed.
    for name, value in vars(ServerState()).items():
        if name != "lock":
            setattr(state, name, value)
    return _llm_server


def closed_port_url() -> str:
    """A base URL where nothing listens: replay must never need the network."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class Project:
    """A temporary pytest project that uses the plugin against the loopback server."""

    def __init__(self, pytester: pytest.Pytester, server: LLMServer) -> None:
        self.pytester = pytester
        self.server = server
        self.base_url = server.url
        self.ini_extra = ""
        self.write_ini()

    def write_ini(self, extra: str | None = None) -> None:
        """Write the ini file; ``extra`` lines are kept for later rewrites (see offline())."""
        if extra is not None:
            self.ini_extra = extra
        self.pytester.makeini(
            "[pytest]\n"
            f"llm_base_url = {self.base_url}\n"
            "asyncio_default_fixture_loop_scope = function\n"
            "filterwarnings = error\n" + self.ini_extra
        )

    def offline(self) -> None:
        """Point the project at a port where nothing listens."""
        self.base_url = closed_port_url()
        self.write_ini()

    def run(self, *args: str) -> pytest.RunResult:
        result = self.pytester.runpytest(
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args
        )
        # What an in-process run's code left unclosed (a client's pooled socket) is finalized
        # now, not at a random moment of a later run of this worker, where filterwarnings=error
        # turned its ResourceWarning into that run's error (seen once in random order).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()
        return result

    def run_subprocess(self, *args: str, timeout: float | None = None) -> pytest.RunResult:
        # Without hypothesis's plugin, as in run(): after litellm's import it crashed the run's
        # summary once (CPython 3.11: "AST constructor recursion depth mismatch").
        return self.pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args, timeout=timeout
        )

    def snapshots(self) -> dict[str, str]:
        root = self.pytester.path
        return {
            str(p.relative_to(root)): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*.seeded.jsonc"))
        }


@pytest.fixture
def project(
    pytester: pytest.Pytester, server: LLMServer, monkeypatch: pytest.MonkeyPatch
) -> Project:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    # Run under GitHub Actions, the projects' runs must not write to this job's summary.
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    # When this suite itself runs under xdist, the project's own run must not believe it is
    # a worker too (syrupy reads this variable and would then never delete unused snapshots).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    return Project(pytester, server)
