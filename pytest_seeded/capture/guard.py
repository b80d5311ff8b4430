"""In replay nothing leaves the process: while a replayed test runs, every door Python offers to
the network is guarded (TCP connect, UDP and TCP Fast Open sendto and sendmsg, every resolver
call), and a subprocess the test starts inherits proxy variables that point its HTTP clients at
a refusing address. What is refused fails the test, saying which host and how to fix it.
Loopback counts (a local server is outside the process too); Unix sockets (an event loop's
self-pipe) do not. Hosts named in ``llm_passthrough_hosts`` are let through, by name or by the
addresses their names resolve to.

What Python cannot see, it cannot refuse: a C library's own sockets (libpq, uvloop's libuv), a
subprocess that ignores proxy variables. The README says how to isolate a run fully."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_seeded.errors import NetworkInReplayError

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
_guarded: TestCalls | None = None
# Addresses that passthrough host names resolved to during the test.
_resolved: set[str] = set()


def _refuse(host: str, port: object) -> NetworkInReplayError:
    calls = _guarded
    where = f"{host}:{port}" if port is not None else host
    message = (
        f"pytest-seeded: {calls.nodeid if calls else 'a replayed test'} tried to reach {where} "
        "in replay, through a client whose requests the plugin does not record (requests, "
        "urllib3, aiohttp used directly, a tracing exporter). Nothing leaves the process in "
        "replay. Send that HTTP through httpx or httpx2 so it is recorded with the test, turn "
        "the exporter off in tests, or name the host in the llm_passthrough_hosts ini option."
    )
    if calls is not None:
        calls.decide("failed", message)
    return NetworkInReplayError(message)


def _allowed(host: Any, port: Any) -> bool:
    calls = _guarded
    if calls is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in _resolved:
        return True
    if host in ("127.0.0.1", "::1") and (
        "localhost" in calls.passthrough or f"localhost:{port}" in calls.passthrough
    ):
        return True
    return host in calls.passthrough or f"{host}:{port}" in calls.passthrough


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

    def applies(self, calls: TestCalls) -> bool:
        return not calls.rules.sends

    def enter(self, calls: TestCalls) -> Callable[[], None]:
        global _guarded
        _guarded = calls
        _resolved.clear()
        socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
        socket.socket.sendto = _sendto  # type: ignore[method-assign,assignment]
        socket.socket.sendmsg = _sendmsg  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = _getaddrinfo
        socket.gethostbyname = _lookup(_ORIGINAL_GETHOSTBYNAME)
        socket.gethostbyname_ex = _lookup(_ORIGINAL_GETHOSTBYNAME_EX)
        socket.gethostbyaddr = _lookup(_ORIGINAL_GETHOSTBYADDR)
        undo_environment = _child_environment(calls)

        def undo() -> None:
            undo_environment()
            _restore()

        return undo


ADAPTER = _Guard()


def _restore() -> None:
    global _guarded
    _guarded = None
    socket.socket.connect = _ORIGINAL_CONNECT  # type: ignore[method-assign]
    socket.socket.connect_ex = _ORIGINAL_CONNECT_EX  # type: ignore[method-assign]
    socket.socket.sendto = _ORIGINAL_SENDTO  # type: ignore[method-assign]
    socket.socket.sendmsg = _ORIGINAL_SENDMSG  # type: ignore[method-assign]
    socket.getaddrinfo = _ORIGINAL_GETADDRINFO
    socket.gethostbyname = _ORIGINAL_GETHOSTBYNAME
    socket.gethostbyname_ex = _ORIGINAL_GETHOSTBYNAME_EX
    socket.gethostbyaddr = _ORIGINAL_GETHOSTBYADDR


def _child_environment(calls: TestCalls) -> Callable[[], None]:
    """Proxy variables for the subprocesses the test starts (curl, another Python, a spawned
    multiprocessing child): their HTTP clients go to a refusing address, except to passthrough
    hosts. The process's own clients are answered before any proxy would be used."""
    saved = {name: os.environ.get(name) for name in (*_PROXY_VARIABLES, "NO_PROXY", "no_proxy")}
    for name in _PROXY_VARIABLES:
        os.environ[name] = REFUSING_PROXY
    hosts = sorted(
        {host.rsplit(":", 1)[0] if host.count(":") == 1 else host for host in calls.passthrough}
    )
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(hosts)

    def undo() -> None:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    return undo
