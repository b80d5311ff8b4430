"""The docs' examples run: every fenced block with a file title (```python title="test_x.py"```)
is written as that file of a project, one project per page, recorded against the loopback
server and replayed offline. An example that no longer works fails here, not for a reader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Project

DOCS = Path(__file__).parents[1] / "docs"
BLOCK = re.compile(r'^```python title="([\w./-]+\.py)"\n(.*?)^```', re.M | re.S)


def _examples() -> list[tuple[str, dict[str, str]]]:
    pages = []
    for page in sorted(DOCS.glob("*.md")):
        files = {name: body for name, body in BLOCK.findall(page.read_text(encoding="utf-8"))}
        if files:
            pages.append((page.name, files))
    return pages


def test_the_docs_have_runnable_examples() -> None:
    # A renamed fence (or page) must not quietly drop them all.
    assert {name for name, _ in _examples()} >= {
        "index.md",
        "determinism.md",
        "errors-and-hooks.md",
        "providers.md",
    }


@pytest.mark.parametrize(("page", "files"), _examples(), ids=[n for n, _ in _examples()])
def test_an_example_records_and_replays(
    project: Project, monkeypatch: pytest.MonkeyPatch, page: str, files: dict[str, str]
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", project.server.url.removesuffix("/v1"))
    for name, body in files.items():
        (project.pytester.path / name).write_text(body, encoding="utf-8")
    tests = len(re.findall(r"^def test_", "".join(files.values()), re.M))
    matrix = 3 if "seeds=[1, 2, 3]" in "".join(files.values()) else 1
    recorded = project.run(
        "--llm-mode=record", "-W", "ignore::pytest.PytestUnraisableExceptionWarning"
    )
    recorded.assert_outcomes(passed=tests * matrix)
    sent = len(project.server.state.requests)
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    project.offline()
    replayed = project.run("-W", "ignore::pytest.PytestUnraisableExceptionWarning")
    replayed.assert_outcomes(passed=tests * matrix)
    assert len(project.server.state.requests) == sent
    if page == "errors-and-hooks.md":  # the scrub hook kept the address out
        assert "ann@example.com" not in "".join(project.snapshots().values())
