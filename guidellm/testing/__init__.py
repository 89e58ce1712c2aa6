"""Test helpers that start REAL servers, for guidellm's own tests and for plugin authors.

* :mod:`guidellm.testing.process`: a server child process with a free port, a bounded
  readiness wait, a loud failure (command, log tail, setup command) and a stop by PID (the
  life cycle of :mod:`guidellm.server_process`, which the mock servers use too), and
  ``RealServer``, the base of the servers below.
* :mod:`guidellm.testing.llama`: llama.cpp ``llama-server`` (OpenAI-compatible HTTP).
* :mod:`guidellm.testing.grpc_servers`: Triton and MLServer (KServe v2 gRPC), with fixtures.
* :mod:`guidellm.testing.pytest_plugin`: pytest fixtures (``llama_server``); enable them with
  ``pytest_plugins = ["guidellm.testing.pytest_plugin"]`` in your top-level ``conftest.py``.

The servers are installed by ``scripts/test-servers/setup.sh`` into a cache outside the
checkout. A server that cannot start makes the test fail, never skip.
Nothing here is imported by the CLI.
"""

from __future__ import annotations
