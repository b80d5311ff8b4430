"""In replay nothing leaves the process: while a replayed test runs, a network connection or a
host name lookup that a client outside the httpx seam tries (requests, urllib3, raw aiohttp, a
tracing exporter's thread) is refused, and the test fails saying which host and how to fix it.
Loopback counts (a local server is outside the process too); Unix sockets (an event loop's
self-pipe) do not. Hosts named in ``llm_passthrough_hosts`` are let through."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pytest_seeded.errors import NetworkInReplayError

if TYPE_CHECKING:
    from pytest_seeded.calls import TestCalls

_ORIGINAL_CONNECT = socket.socket.connect
_ORIGINAL_CONNECT_EX = socket.socket.connect_ex
_ORIGINAL_GETADDRINFO = socket.getaddrinfo
_NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_guarded: TestCalls | None = None


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
    if host in ("127.0.0.1", "::1") and (
        "localhost" in calls.passthrough or f"localhost:{port}" in calls.passthrough
    ):
        return True
    return host in calls.passthrough or f"{host}:{port}" in calls.passthrough


def _connect(self: socket.socket, address: Any) -> None:
    if self.family in _NETWORK_FAMILIES and not _allowed(address[0], address[1]):
        raise _refuse(address[0], address[1])
    _ORIGINAL_CONNECT(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in _NETWORK_FAMILIES and not _allowed(address[0], address[1]):
        raise _refuse(address[0], address[1])
    return _ORIGINAL_CONNECT_EX(self, address)


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    # A lookup is network too (and names the host to a resolver); a numeric address is not.
    if host is not None and not _numeric(host) and not _allowed(host, port):
        raise _refuse(str(host), port)
    return _ORIGINAL_GETADDRINFO(host, port, *args, **kwargs)


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
        socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = _getaddrinfo
        return _restore


ADAPTER = _Guard()


def _restore() -> None:
    global _guarded
    _guarded = None
    socket.socket.connect = _ORIGINAL_CONNECT  # type: ignore[method-assign]
    socket.socket.connect_ex = _ORIGINAL_CONNECT_EX  # type: ignore[method-assign]
    socket.getaddrinfo = _ORIGINAL_GETADDRINFO
