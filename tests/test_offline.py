"""Nothing leaves the process in replay, at any door Python offers; what Python cannot refuse
(C libraries' sockets) a network namespace does (../shared/redteam 07, 09)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from conftest import Project


class Listener:
    """A TCP and a UDP socket on 127.0.0.1 that log whatever reaches them."""

    def __init__(self) -> None:
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.seen: list[bytes] = []
        self._threads = [
            threading.Thread(target=self._accept, daemon=True),
            threading.Thread(target=self._receive, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def tcp_port(self) -> int:
        return int(self.tcp.getsockname()[1])

    @property
    def udp_port(self) -> int:
        return int(self.udp.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.seen.append(conn.recv(200) or b"<connected>")
            except OSError:
                self.seen.append(b"<connected>")
            conn.close()

    def _receive(self) -> None:
        while True:
            try:
                self.seen.append(self.udp.recv(200))
            except OSError:
                return

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener()
    yield found
    found.close()


DOORS = """
import multiprocessing, os, socket, subprocess, sys, time, urllib.request
import pytest
from pytest_seeded import NetworkInReplayError

TCP = ("127.0.0.1", TCP_PORT)
UDP = ("127.0.0.1", UDP_PORT)

def test_udp_sendto(seeded_calls):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(NetworkInReplayError):
        s.sendto(b"leak-udp", UDP)

def test_udp_sendmsg(seeded_calls):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(NetworkInReplayError):
        s.sendmsg([b"leak-sendmsg"], [], 0, UDP)

def test_tcp_fast_open(seeded_calls):
    s = socket.socket()
    with pytest.raises(NetworkInReplayError):
        s.sendto(b"leak-tfo", socket.MSG_FASTOPEN, TCP)
    s.close()

@pytest.mark.parametrize("lookup", ["gethostbyname", "gethostbyname_ex"])
def test_name_lookups(seeded_calls, lookup):
    with pytest.raises(NetworkInReplayError):
        getattr(socket, lookup)("redteam-nonexistent-host.invalid")

def test_subprocess_curl(seeded_calls):
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-m", "3", f"http://{TCP[0]}:{TCP[1]}/leak-curl"])

def test_subprocess_python(seeded_calls):
    code = f"import urllib.request\\ntry: urllib.request.urlopen('http://{TCP[0]}:{TCP[1]}/leak-python', timeout=3)\\nexcept Exception: pass"
    subprocess.run([sys.executable, "-c", code], timeout=30)

def _child(url):
    try:
        urllib.request.urlopen(url, timeout=3)
    except Exception:
        pass

def test_multiprocessing_spawn(seeded_calls):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        pool.apply(_child, (f"http://{TCP[0]}:{TCP[1]}/leak-spawn",))
"""


def test_replay_refuses_the_network_at_every_door_python_offers(
    project: Project, listener: Listener
) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    code = DOORS.replace("TCP_PORT", str(listener.tcp_port)).replace(
        "UDP_PORT", str(listener.udp_port)
    )
    project.pytester.makepyfile(test_doors=code)
    # Refused doors fail their test (the plugin's verdict), whatever the test made of the
    # error; the subprocesses' clients are sent to a refusing proxy, and reach nothing.
    result = project.run_subprocess("-p", "no:randomly", timeout=120)
    result.assert_outcomes(failed=5, passed=3)
    result.stdout.fnmatch_lines(["*tried to reach 127.0.0.1:*in replay*"])
    assert listener.seen == []


def test_a_passthrough_host_named_by_name_is_reached_in_replay(project: Project) -> None:
    # redteam 09: the guard compared the resolved address with the names in
    # llm_passthrough_hosts, so a service named by host name was refused.
    host = socket.gethostname()
    try:
        address = socket.gethostbyname(host)
    except OSError:
        pytest.skip(f"this machine cannot resolve its own name {host!r}")
    if not address.startswith("127."):
        pytest.skip(f"{host!r} resolves to {address}, not to this machine's loopback")
    port = project.server.url.split(":")[2].split("/")[0]
    # Its only HTTP passes through, so record mode warns that it recorded nothing; the warning
    # is the plugin's own class, filtered by name.
    project.write_ini(f"    ignore::pytest_seeded.NoCallWarning\nllm_passthrough_hosts = {host}\n")
    project.pytester.makepyfile(
        test_it=f"""
import requests

def test_local_service_by_name(seeded_calls):
    assert requests.get("http://{host}:{port}/tool/weather?city=oslo", timeout=3).ok
"""
    )
    project.run("--llm-mode=record").assert_outcomes(passed=1)
    assert project.snapshots() == {}  # passed through: nothing to record
    project.run().assert_outcomes(passed=1)


UNSEEN = """
import ctypes, ctypes.util, socket, struct

def test_a_c_library_connects(seeded_calls):
    # What a C driver (libpq) or another event loop (uvloop) does: its own socket, out of
    # Python's sight.
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    address = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", PORT, socket.inet_aton("127.0.0.1"))
    libc.connect(fd, address, len(address))
    libc.send(fd, b"leak-c", 6, 0)
    libc.close(fd)
"""


def test_a_network_namespace_refuses_what_python_cannot(
    project: Project, listener: Listener
) -> None:
    if sys.platform != "linux" or shutil.which("unshare") is None:
        pytest.skip("needs Linux's unshare")
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine does not let unshare make a network namespace")
    project.pytester.makepyfile(test_c=UNSEEN.replace("PORT", str(listener.tcp_port)))
    # In the process's own network, the guard cannot see a C library's socket: it connects.
    project.run_subprocess("-p", "no:randomly", timeout=60).assert_outcomes(passed=1)
    assert listener.seen == [b"leak-c"]
    listener.seen.clear()
    # The docs' way (docs/snapshots.md) to isolate a run fully: a network namespace of its own.
    run = subprocess.run(
        [
            "unshare",
            "-rn",
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-q",
        ],
        cwd=project.pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    assert listener.seen == []


URLOPEN = """
import urllib.request
import pytest

URL = "TOOL"

def test_a_failing_assert_inside_urlopen_fails(seeded_calls):
    with urllib.request.urlopen(URL, timeout=5) as r:
        assert r.read() == b"this is not the answer"

def test_an_exception_inside_urlopen_propagates(seeded_calls):
    with pytest.raises(ValueError, match="raised inside"):
        with urllib.request.urlopen(URL, timeout=5) as r:
            r.read()
            raise ValueError("raised inside the with block")
"""


def test_an_exception_inside_urlopen_is_never_swallowed(project: Project) -> None:
    # redteam 24 (filed under issue 21): vcrpy's response returned True from close(), so
    # `with urlopen(...)` swallowed what was raised inside it: a false assert passed, and was
    # recorded.
    tool = project.server.url.removesuffix("/v1") + "/tool/weather?city=oslo"
    project.pytester.makepyfile(test_it=URLOPEN.replace("TOOL", tool))
    project.run("--llm-mode=record").assert_outcomes(failed=1, passed=1)
    project.run("--llm-mode=record", "-k", "propagates").assert_outcomes(passed=1, deselected=1)
    project.offline()
    project.run("-k", "propagates").assert_outcomes(passed=1, deselected=1)
