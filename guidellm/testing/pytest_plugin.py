"""pytest fixtures that start real servers, for guidellm's tests and for plugin authors.

Enable them in a top-level ``conftest.py``: ``pytest_plugins = ["guidellm.testing.pytest_plugin"]``.

* ``llama_server`` (session): a running :class:`~guidellm.testing.llama.LlamaServer` with
  ``.url`` (``http://127.0.0.1:<port>``, no ``/v1``) and ``.model`` (the alias, ``"tiny"``).
* ``start_llama_server`` (function): a factory for a server of your own, e.g. with one slot:
  ``start_llama_server(slots=1)``; every server it started is stopped after the test.

Tests that use a real-server fixture get the ``realserver`` marker automatically, so
``pytest -m "not realserver"`` gives a quick loop. A server that cannot start fails the test
with the log tail and the setup command; it never skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from guidellm.testing.llama import LlamaServer
from guidellm.testing.process import TestServerError

__all__ = ["REALSERVER_FIXTURES", "llama_server", "start_llama_server"]

#: fixtures that start a real server; tests using one are marked ``realserver``.
#: Other fixture modules (e.g. gRPC servers) add their names here.
REALSERVER_FIXTURES: set[str] = {"llama_server", "start_llama_server"}


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so plugin projects with ``--strict-markers`` need no ini line."""
    config.addinivalue_line(
        "markers", "realserver: needs a real inference server that the test tooling starts"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a real-server fixture as ``realserver``."""
    for item in items:
        if REALSERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.realserver)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """A real llama-server on a free loopback port for the whole session, stopped by PID."""
    server = LlamaServer(log_dir=tmp_path_factory.mktemp("llama-server"))
    try:
        server.start()
    except TestServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_llama_server(tmp_path: Any) -> Iterator[Callable[..., LlamaServer]]:
    """A factory: ``start_llama_server(**LlamaServer options)`` -> a started server."""
    started: list[LlamaServer] = []

    def start(**options: Any) -> LlamaServer:
        options.setdefault("log_dir", tmp_path)
        server = LlamaServer(**options)
        try:
            server.start()
        except TestServerError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
