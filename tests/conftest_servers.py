"""Fixtures for real HTTP model servers on loopback: the scripted fake and a real llama.cpp server.

tests/conftest.py re-exports these (`from tests.conftest_servers import *`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fake_openai_server import FakeOpenAIServer

__all__ = ["fake_server", "llama_server", "require_llama_cpp"]


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Factory: `fake_server(script, models=None)` starts a scripted server; all are closed afterwards."""
    started: list[FakeOpenAIServer] = []

    def start(script: list[dict[str, Any]], **kwargs: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(script, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def require_llama_cpp() -> None:
    """Skip when llama-cpp-python[server] or the GGUF is missing, except under CI, where that fails:
    CI installs the demo extra, so a missing piece there is a broken build, not an optional extra."""
    from rioagent.models.base import ModelError
    from rioagent.models.demo import check_llama_cpp, find_gguf

    try:
        check_llama_cpp()
        find_gguf()
    except ModelError as exc:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"CI is set but the llama.cpp demo server can't run: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def llama_server() -> Iterator[Any]:
    """One real llama.cpp server over SmolLM2-135M-Instruct per test session (.base_url, .alias, .port)."""
    require_llama_cpp()
    from rioagent.models.demo import LlamaServer, find_gguf

    server = LlamaServer(find_gguf(), n_ctx=2048).start()
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
