"""In replay nothing leaves the process: for what a replayed test owns (routing.py), every door
Python offers to the network is guarded (TCP connect, UDP and TCP Fast Open sendto and sendmsg,
every resolver call), and a subprocess the test starts inherits proxy variables that point its
HTTP clients at a refusing address. What is refused fails the test, saying which host and how to
fix it. Loopback counts (a local server is outside the process too); Unix sockets (an event
loop's self-pipe) do not. Hosts named in ``llm_passthrough_hosts`` are let through, by name or
by the addresses their names resolve to.

What Python cannot see, it cannot refuse: a C library's own sockets (libpq, uvloop's libuv), a
subprocess that ignores proxy variables. docs/snapshots.md says how to isolate a run fully."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_seeded.capture.routing import Stray, owner
from pytest_seeded.errors import NetworkInReplayError
from pytest_seeded.settings import host_listed

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls

_ORIGINAL_CONNECT = socket.socket.connect
_ORIGINAL_CONNECT_EX = socket.socket.connect_ex
_ORIGINAL_SENDTO = socket.socket.sendto
_ORIGINAL_SENDMSG = socket.socket.sendmsg
_ORIGINAL_GETADDRINFO = socket.getaddrinfo
_ORIGINAL_GETHOSTBYNAME = socket.gethostbyname
_ORIGINAL_GETHOSTBYNAME_EX = socket.gethostbyname_ex
_ORIGINAL_GETHOSTBYADDR = socket.gethostbyaddr
_NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)
# Where a subprocess's HTTP clients are sent in replay: the discard port, where nothing listens.
REFUSING_PROXY = "http://127.0.0.1:9"
_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)
# Addresses that passthrough host names resolved to in the run.
_resolved: set[str] = set()


def _guarded() -> TestCalls | Stray | None:
    """The replayed test (or the stray of one) this door is used for, if any."""
    found = owner()
    if found is None:
        return None
    calls = found.calls if isinstance(found, Stray) else found
    return None if calls.rules.sends else found


def _refuse(host: str, port: object) -> NetworkInReplayError:
    found = _guarded()
    where = f"{host}:{port}" if port is not None else host
    who = found.why if isinstance(found, Stray) else found.nodeid if found else "a replayed test"
    message = (
        f"pytest-seeded: {who} tried to reach {where} in replay, through a client whose "
        "requests the plugin does not record (http.client or a socket used directly, tornado, "
        "a C library, a tracing exporter). Nothing leaves the process in replay. Send that "
        "HTTP through a supported client (httpx, requests, urllib3, urllib, aiohttp) so it is "
        "recorded with the test, turn the exporter off in tests, or name the host in the "
        "llm_passthrough_hosts ini option."
    )
    if found is not None and not isinstance(found, Stray):
        found.decide("failed", message)
    return NetworkInReplayError(message)


def _allowed(host: Any, port: Any) -> bool:
    found = _guarded()
    if found is None:
        return True
    calls = found.calls if isinstance(found, Stray) else found
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in _resolved:
        return True
    if host in ("127.0.0.1", "::1") and host_listed(calls.passthrough, "localhost", port):
        return True
    return host_listed(calls.passthrough, host, port)


def _address(address: Any) -> tuple[Any, Any]:
    if isinstance(address, tuple) and len(address) >= 2:
        return address[0], address[1]
    return address, None


def _connect(self: socket.socket, address: Any) -> None:
    if self.family in _NETWORK_FAMILIES and not _allowed(address[0], address[1]):
        raise _refuse(address[0], address[1])
    _ORIGINAL_CONNECT(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in _NETWORK_FAMILIES and not _allowed(address[0], address[1]):
        raise _refuse(address[0], address[1])
    return _ORIGINAL_CONNECT_EX(self, address)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    # sendto(data, address) or sendto(data, flags, address): UDP, and TCP Fast Open, which
    # connects without connect().
    if self.family in _NETWORK_FAMILIES and args:
        host, port = _address(args[-1])
        if not _allowed(host, port):
            raise _refuse(host, port)
    return _ORIGINAL_SENDTO(self, data, *args)


def _sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
    # sendmsg(buffers, ancdata, flags, address): the address is the fourth argument.
    if self.family in _NETWORK_FAMILIES and len(args) >= 3 and args[2] is not None:
        host, port = _address(args[2])
        if not _allowed(host, port):
            raise _refuse(host, port)
    return _ORIGINAL_SENDMSG(self, buffers, *args)


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    # A lookup is network too (and names the host to a resolver); a numeric address is not.
    if host is not None and not _numeric(host):
        if not _allowed(host, port):
            raise _refuse(str(host), port)
        found = _ORIGINAL_GETADDRINFO(host, port, *args, **kwargs)
        # A passthrough host named by name: the addresses it resolves to may be connected to.
        _resolved.update(str(info[4][0]) for info in found)
        return found
    return _ORIGINAL_GETADDRINFO(host, port, *args, **kwargs)


def _lookup(original: Callable[..., Any]) -> Callable[..., Any]:
    """gethostbyname and its kin: lookups outside getaddrinfo."""

    def guarded(host: Any, *args: Any) -> Any:
        if not _numeric(host) and not _allowed(host, None):
            raise _refuse(str(host), None)
        return original(host, *args)

    return guarded


def _numeric(host: Any) -> bool:
    text = host.decode() if isinstance(host, bytes) else str(host)
    for family in _NETWORK_FAMILIES:
        try:
            socket.inet_pton(family, text)
        except (OSError, ValueError):
            continue
        return True
    return text == "localhost"


class _Guard:
    name = "the network guard (sockets and name lookups)"

    def install(self) -> Callable[[], None]:
        _resolved.clear()
        socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
        socket.socket.sendto = _sendto  # type: ignore[method-assign,assignment]
        socket.socket.sendmsg = _sendmsg  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = _getaddrinfo
        socket.gethostbyname = _lookup(_ORIGINAL_GETHOSTBYNAME)
        socket.gethostbyname_ex = _lookup(_ORIGINAL_GETHOSTBYNAME_EX)
        socket.gethostbyaddr = _lookup(_ORIGINAL_GETHOSTBYADDR)
        subprocess.Popen.__init__ = _popen_init  # type: ignore[method-assign]
        return _restore


class _ChildEnvironment:
    name = "proxy variables for the test's subprocesses"

    def applies(self, calls: TestCalls) -> bool:
        return not calls.rules.sends

    def enter(self, calls: TestCalls) -> Callable[[], None]:
        return _child_environment(calls)


ADAPTER = _Guard()
ENVIRONMENT = _ChildEnvironment()


def _restore() -> None:
    subprocess.Popen.__init__ = _ORIGINAL_POPEN_INIT  # type: ignore[method-assign]
    socket.socket.connect = _ORIGINAL_CONNECT  # type: ignore[method-assign]
    socket.socket.connect_ex = _ORIGINAL_CONNECT_EX  # type: ignore[method-assign]
    socket.socket.sendto = _ORIGINAL_SENDTO  # type: ignore[method-assign]
    socket.socket.sendmsg = _ORIGINAL_SENDMSG  # type: ignore[method-assign]
    socket.getaddrinfo = _ORIGINAL_GETADDRINFO
    socket.gethostbyname = _ORIGINAL_GETHOSTBYNAME
    socket.gethostbyname_ex = _ORIGINAL_GETHOSTBYNAME_EX
    socket.gethostbyaddr = _ORIGINAL_GETHOSTBYADDR


def _proxies(calls: TestCalls) -> dict[str, str]:
    return _proxies_for(calls.passthrough)


@functools.lru_cache(maxsize=8)
def _proxies_for(passthrough: frozenset[str]) -> dict[str, str]:
    hosts = sorted(
        {host.rsplit(":", 1)[0] if host.count(":") == 1 else host for host in passthrough}
    )
    return {
        **dict.fromkeys(_PROXY_VARIABLES, REFUSING_PROXY),
        "NO_PROXY": ",".join(hosts),
        "no_proxy": ",".join(hosts),
    }


def _child_environment(calls: TestCalls) -> Callable[[], None]:
    """Proxy variables for the subprocesses the test starts (curl, another Python, a spawned
    multiprocessing child): their HTTP clients go to a refusing address, except to passthrough
    hosts. Set in the process's C environment only, which children inherit, and not in
    ``os.environ``: the process's own clients are answered before any proxy would be used, and
    an httpx client built with proxies in ``os.environ`` made a TLS context per proxy (0.2 s a
    client). A child given an ``env=`` of its own gets them from the Popen patch below."""
    saved = {name: os.environ.get(name) for name in (*_PROXY_VARIABLES, "NO_PROXY", "no_proxy")}
    for name, value in _proxies(calls).items():
        os.putenv(name, value)

    def undo() -> None:
        for name, value in saved.items():
            if value is None:
                os.unsetenv(name)
            else:
                os.putenv(name, value)

    return undo


_ORIGINAL_POPEN_INIT = subprocess.Popen.__init__


def _popen_init(self: Any, *args: Any, **kwargs: Any) -> None:
    # args[9] is env when passed by position (args, bufsize, executable, stdin, stdout, stderr,
    # preexec_fn, close_fds, shell, cwd, env).
    found = _guarded()
    env = kwargs.get("env")
    if found is not None and env is not None and len(args) < 11:
        calls = found.calls if isinstance(found, Stray) else found
        kwargs["env"] = {**_proxies(calls), **env}
    _ORIGINAL_POPEN_INIT(self, *args, **kwargs)
