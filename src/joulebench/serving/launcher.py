"""Start an inference server process for one arm, wait until it answers, stop it cleanly, keep its log.

``serve-bench --server "COMMAND"`` runs any server (``transformers serve --continuous-batching``, vLLM,
TGI, SGLang, ...) as its own process group with its output in a log file, polls ``/health`` then
``/v1/models`` on ``--url`` until one answers 200 (or ``ready_timeout_s`` passes, or the process dies),
runs the load, then sends SIGTERM to the whole group (SIGKILL after ``stop_timeout_s``). Why a process
group: servers fork workers (uvicorn, tokenizer pools, vLLM's engine core); stopping only the parent
leaves them holding the GPU and the port.

A server that exits or never becomes ready raises `ServerFailed` (a `CheckFailed`: exit code 1) with
the end of its log, and nothing is stored as served. The log (redacted: a server's command line or
log may hold a key) goes with the result.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joulebench.errors import CheckFailed, UsageError
from joulebench.serving.secrets import Redactor

READY_PATHS = ("/health", "/v1/models")
POLL_S = 0.25
LOG_TAIL_BYTES = 4096
LOG_KEEP_BYTES = 256 * 1024  # the end of the log kept with the result


class ServerFailed(CheckFailed):
    """The server process died, or never answered its health endpoint in time."""


@dataclass(frozen=True)
class ServerSpec:
    command: str
    url: str  # where the command makes the server listen, e.g. http://127.0.0.1:8000
    ready_timeout_s: float = 600.0
    stop_timeout_s: float = 30.0

    def argv(self) -> list[str]:
        """The command split into words; validated (it exists) before anything else runs."""
        try:
            words = shlex.split(self.command)
        except ValueError as exc:
            raise UsageError.bad("server", self.command, f"cannot be split into words: {exc}") from None
        if not words:
            raise UsageError.bad("server", self.command, "is empty")
        program = words[0]
        if shutil.which(program) is None and not (os.sep in program and Path(program).is_file()):
            raise UsageError.bad("server", self.command, f"program '{program}' not found on PATH")
        return words


class ServerProcess:
    """One launched server. ``with ServerProcess(spec) as server:`` starts it (ready or `ServerFailed`)
    and on exit stops it and deletes its log; take `report` and `log_lines` after `stop`, before that."""

    def __init__(self, spec: ServerSpec, redactor: Redactor | None = None) -> None:
        self.spec = spec
        self.redactor = redactor or Redactor()
        self._dir = tempfile.TemporaryDirectory(prefix="joulebench-server-")
        self.log_path = Path(self._dir.name) / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_after_s: float | None = None
        self.returncode: int | None = None
        self.stopped_by_us = False

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        argv = self.spec.argv()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        started = time.perf_counter()
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.ready_after_s = time.perf_counter() - started

    def _wait_ready(self, started: float) -> None:
        import httpx

        deadline = started + self.spec.ready_timeout_s
        base = self.spec.url.rstrip("/")
        if base.endswith("/v1"):
            base = base[: -len("/v1")]
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                assert self.proc is not None
                code = self.proc.poll()
                if code is not None:
                    self.returncode = code
                    raise ServerFailed(f"server exited with code {code} before it was ready; {self._tail_line()}")
                for path in READY_PATHS:
                    try:
                        if client.get(base + path).status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                if time.perf_counter() >= deadline:
                    raise ServerFailed(
                        f"server not ready within {self.spec.ready_timeout_s:g} s (no 200 from "
                        f"{' or '.join(base + p for p in READY_PATHS)}); {self._tail_line()}"
                    )
                time.sleep(POLL_S)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            self.stopped_by_us = True
            self._signal(signal.SIGTERM)
            try:
                proc.wait(self.spec.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(10.0)
        self._signal(signal.SIGKILL)  # workers that outlived their parent
        self.returncode = proc.returncode

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def log_text(self, max_bytes: int = LOG_KEEP_BYTES) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, self.log_path.stat().st_size - max_bytes))
                data = log.read()
        except OSError:
            return ""
        return self.redactor.text(data.decode("utf-8", errors="replace"))

    def _tail_line(self) -> str:
        lines = [line for line in self.log_text(LOG_TAIL_BYTES).splitlines() if line.strip()]
        return "last log lines: " + (" | ".join(lines[-3:])[-600:] if lines else "(empty log)")

    def report(self) -> dict[str, Any]:
        """What goes with the result: the command (redacted), readiness, exit, the end of the log."""
        return {
            "command": self.redactor.text(self.spec.command),
            "url": self.spec.url,
            "ready_after_s": self.ready_after_s,
            "returncode": self.returncode,
            "stopped_by_joulebench": self.stopped_by_us,
            "log_tail": self.log_text(LOG_TAIL_BYTES),
        }

    def log_lines(self) -> list[dict[str, str]]:
        return [{"line": line} for line in self.log_text().splitlines()]

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()
