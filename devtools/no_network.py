"""A pytest plugin for checking the claim that replay opens no socket: loaded with
``-p no_network`` (devtools on the path), it refuses every network connection and host lookup
for the whole run, with or without the plugin's own guard. devtools/test.sh replays the example
project under it."""

from __future__ import annotations

import socket
from typing import Any

import pytest

_NETWORK = (socket.AF_INET, socket.AF_INET6)


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"a replayed run opened the network: {args[1:] or args!r}")


def pytest_configure(config: pytest.Config) -> None:
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in _NETWORK:
            _refuse(self, address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if self.family in _NETWORK:
            _refuse(self, address)
        return connect_ex(self, address)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _refuse
