"""Shared fixtures."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest


class NetworkCalled(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Fail any outgoing connection (loopback included): proves a command needs no network."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any, *a: Any, **k: Any) -> None:
        attempts.append(address)
        raise NetworkCalled(f"network call to {address}")

    def refuse_create(address: Any, *a: Any, **k: Any) -> None:
        attempts.append(address)
        raise NetworkCalled(f"network call to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse_create)
    yield attempts
