"""What reaches the snapshot files: no credential, whole files only, and clear errors on bad ones."""

from __future__ import annotations

import json

import pytest
from conftest import Project

SECRETS_TEST = """
from openai import OpenAI

def test_secret(seeded_llm):
    raw = seeded_llm.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}],
        extra_headers={"api-key": "azure-KEY-5f1e9b7c", "cookie": "sid=COOKIE-a1b2c3"},
        extra_query={"api-key": "QUERY-KEY-77aa", "api-version": "2024-10-21"},
    )
    # The server echoes the keys in response headers, as some gateways do (not in replay).
    print("ECHO:", raw.headers.get("x-echo-api-key"), raw.headers.get("x-echo-authorization"))
    app = OpenAI(organization="org-SECRET-ORG-123", project="proj_SECRET-PROJ-456")
    app.chat.completions.create(model="m", messages=[{"role": "user", "content": "app"}])
"""

SECRET_VALUES = (
    "sk-test-DISTINCTIVE-0123456789abcdef",
    "azure-KEY-5f1e9b7c",
    "COOKIE-a1b2c3",
    "QUERY-KEY-77aa",
    "org-SECRET-ORG-123",
    "proj_SECRET-PROJ-456",
    "server-cookie-secret",
)


def test_no_credential_is_written(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_VALUES[0])
    project.pytester.makepyfile(test_secret=SECRETS_TEST)
    recorded = project.run("--llm-mode=record", "-s")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["*ECHO: azure-KEY-5f1e9b7c Bearer sk-test-DISTINCTIVE-*"])
    # The server saw them, so the test proves the plugin dropped them rather than never sent them.
    seen = json.dumps([r.headers for r in project.server.state.requests])
    assert "sk-test-DISTINCTIVE" in seen
    assert "azure-KEY-5f1e9b7c" in seen
    files = [p for p in project.pytester.path.rglob("*") if p.is_file()]
    written = [p for p in files if "__llm_snapshots__" in p.parts]
    assert len(written) == 1
    for path in written:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for secret in SECRET_VALUES:
            assert secret not in text, (path, secret)
    call = json.loads(written[0].read_text())["calls"][0]
    assert call["request"]["path"] == "/v1/chat/completions?api-version=2024-10-21"
    # Replay matches on the path without the secret, so a different key still replays.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-another-key")
    project.offline()
    project.run().assert_outcomes(passed=1)


def test_ini_scrub_fields_keep_named_fields_out_and_replay_still_matches(project: Project) -> None:
    project.pytester.makepyfile(
        test_it="""
        def test_it(seeded_llm):
            r = seeded_llm.chat.completions.create(
                model="m",
                messages=[{"role": "user", "content": "hi"}],
                user="jane@example.com",
                metadata={"customer_email": "jane@example.com", "plan": "gold"},
                extra_query={"tenant": "acme-tenant-secret"},
            )
            assert r.id == "<scrubbed>" or r.id.startswith("chatcmpl-")
            assert r.choices[0].message.content
        """
    )
    project.write_ini("llm_scrub_fields =\n    user, Customer_Email\n    tenant ID\n")
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    sent = project.server.state.requests[0]
    assert sent.body["user"] == "jane@example.com"
    assert "tenant=acme-tenant-secret" in sent.path
    (text,) = project.snapshots().values()
    assert "jane@example.com" not in text
    assert "acme-tenant-secret" not in text
    call = json.loads(text)["calls"][0]
    assert call["request"]["body"]["user"] == "<scrubbed>"
    assert call["request"]["body"]["metadata"] == {"customer_email": "<scrubbed>", "plan": "gold"}
    assert call["request"]["path"] == "/v1/chat/completions"
    assert call["response"]["body"]["id"] == "<scrubbed>"
    # A different value of a scrubbed field still replays: the stored form is what matches.
    project.pytester.makepyfile(
        test_it=project.pytester.path.joinpath("test_it.py")
        .read_text()
        .replace("jane@example.com", "someone@example.org")
    )
    project.offline()
    project.run().assert_outcomes(passed=1)


# A call whose response is given: for files that break only in one field.
def _call(response: str, output: str = '"x"') -> str:
    return (
        '{"schema_version": 1, "seed": 42, "calls": [{"request": {"method": "POST", '
        '"path": "/v1/chat/completions", "body": {}}, "output": ' + output + ", "
        '"fingerprint": null, "response": ' + response + "}]}"
    )


BAD_FILES = {
    "huge_integer": (
        _call('{"status": 200, "content_type": "application/json", "body": ' + "9" * 4301 + "}"),
        "not valid JSON (Exceeds the limit (4300 digits)",
    ),
    "content_type_not_ascii": (
        _call(
            '{"status": 200, "content_type": "application/json; charset=\u00fc\u2603", "body": {}}'
        ),
        "cannot be an HTTP header (printable ASCII only)",
    ),
    "impossible_status": (
        _call('{"status": 9999, "content_type": "application/json", "body": {}}'),
        "calls[0].response.status: 9999 is not an HTTP status",
    ),
    "empty": ("", "the file is empty"),
    "truncated": ('{"schema_version": 1, "seed": 42, "calls": [', "not valid JSON"),
    "not_an_object": ("[1, 2]", "expected a JSON object, got a list"),
    "wrong_version": (
        '{"schema_version": 99, "seed": 42, "calls": []}',
        "schema_version 99 is newer",
    ),
    "seed_type": (
        '{"schema_version": 1, "seed": "x", "calls": []}',
        "field 'seed' should be a whole number",
    ),
    "call_missing_response": (
        '{"schema_version": 1, "seed": 42, "calls": [{"request": {"method": "POST", "path": "/", '
        '"body": {}}, "output": "", "fingerprint": null}]}',
        "calls[0]: missing field 'response'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_an_unreadable_snapshot_errors_only_its_test(project: Project, case: str) -> None:
    content, problem = BAD_FILES[case]
    project.pytester.makepyfile(
        test_two="""
        def test_bad(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])

        def test_good(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "g"}])
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=2)
    bad = project.pytester.path / "__llm_snapshots__/test_two/test_bad[seed=42].seeded.jsonc"
    bad.write_text(content)
    for mode in ("live", "replay"):
        if mode == "replay":
            project.offline()
        result = project.run(f"--llm-mode={mode}")
        result.assert_outcomes(passed=1, errors=1)
        out = result.stdout.str()
        assert "1 snapshot unused" not in out
        assert (
            "cannot read the snapshot of test_two.py::test_bad: "
            "__llm_snapshots__/test_two/test_bad[seed=42].seeded.jsonc" in out
        )
        assert "re-record it with: pytest test_two.py::test_bad --llm-mode=record" in out
        assert problem in out
        assert "ERROR test_two.py::test_bad" in out
        assert bad.read_text() == content


def test_a_corrupt_snapshot_is_replaced_when_recording(project: Project) -> None:
    project.pytester.makepyfile(
        test_one="""
        def test_one(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    path = next(project.pytester.path.rglob("*.seeded.jsonc"))
    good = path.read_text()
    path.write_text("{ not json")
    result = project.run("--llm-mode=record")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["snapshot files: 1 changed"])
    # The same recording again; only the time it was made differs.
    assert json.loads(path.read_text())["calls"] == json.loads(good)["calls"]


def test_writes_leave_no_temporary_files(project: Project) -> None:
    project.pytester.makepyfile(
        test_one="""
        def test_one(seeded_llm):
            seeded_llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "b"}])
        """
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    names = sorted(p.name for p in (project.pytester.path / "__llm_snapshots__").rglob("*"))
    assert names == ["test_one", "test_one[seed=42].seeded.jsonc"]


DISCOVERY_TEST = """
import os
from pathlib import Path

from syrupy.extensions.single_file import SingleFileSnapshotExtension
from syrupy.location import PyTestLocation

from pytest_seeded.storage.extension import SeededSnapshotExtension

FILES = [
    "test_mod/test_a[seed=42].seeded.jsonc",   # owned
    "other_mod/test_e.seeded.jsonc",           # owned: another module, same folder above
    ".hidden_dir/test_g.seeded.jsonc",         # owned: syrupy walks hidden folders
    "test_mod/.hidden.seeded.jsonc",           # hidden file
    "test_mod/.test_b.seeded.jsonc.x1.tmp",    # a write in progress
    "test_mod/test_c.json",                    # other extensions' files
    "test_mod/test_d.ambr",
    "test_top.seeded.jsonc",                   # one level too high
    "test_mod/deeper/test_f.seeded.jsonc",     # one level too deep
    "test_mod/folder.seeded.jsonc/inner.txt",  # a folder with the suffix
]

def found(collections):
    return sorted((c.location, sorted(s.name for s in c)) for c in collections)

def test_discovery_matches_syrupy(request):
    root = Path(request.node.path).parent / "__llm_snapshots__"
    location = PyTestLocation(request.node)
    ext = SeededSnapshotExtension()
    assert found(ext.list_snapshots(location, None)) == []  # no folder yet
    for name in FILES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    os.symlink(root / "test_mod", root / "linked_dir")
    os.symlink(root / "test_mod" / "test_a[seed=42].seeded.jsonc", root / "test_mod" / "link.seeded.jsonc")
    os.symlink(root / "missing", root / "test_mod" / "broken.seeded.jsonc")
    for ignore in (None, ["ambr"], ["jsonc"]):
        ours = found(ext.list_snapshots(location, ignore))
        syrupys = found(SingleFileSnapshotExtension.discover_snapshots(
            ext, test_location=location, ignore_extensions=ignore))
        assert ours == syrupys, ignore
    names = {n for _, names in found(ext.list_snapshots(location, None)) for n in names}
    assert names == {"test_a[seed=42]", "test_e", "test_g", "link"}
"""


def test_snapshot_discovery_finds_what_syrupys_own_finds(project: Project) -> None:
    # The extension lists its files with os.scandir instead of syrupy's Path.rglob walk (a
    # replay-speed measure): the same collections must come out, decoys and all.
    project.pytester.makepyfile(test_mod=DISCOVERY_TEST)
    project.run("-p", "no:randomly", "--snapshot-disable-unused").assert_outcomes(passed=1)
