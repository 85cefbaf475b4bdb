"""serve-bench --server: a real loopback server process started by the flag, ready-waited, loaded, stopped."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest

from joulebench.errors import UsageError
from joulebench.serving.launcher import ServerFailed, ServerProcess, ServerSpec
from joulebench.store import Store
from tests.serving_helpers import run_cli

SERVER = Path(__file__).parent / "loopback_server.py"



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(port: int, *extra: str) -> str:
    return " ".join([sys.executable, str(SERVER), "--port", str(port), *extra])


def bench(port: int, db: Path, server: str, *extra: str) -> list[str]:
    return ["serve-bench", "--server", server, "--url", f"http://127.0.0.1:{port}", "--model", "m",
            "--requests", "4", "--arrival", "fixed:20ms", "--prompts", "synthetic:8", "--output-tokens", "3",
            "--db", str(db), "--json", *extra]


def test_server_flag_launches_loads_and_stops_the_server(tmp_path, capsys) -> None:
    port, db = free_port(), tmp_path / "r.db"
    assert run_cli(bench(port, db, command(port, "--ready-after-s", "0.5"))) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["metrics"]["completed"] == 4
    server = doc["server"]
    assert server["ready_after_s"] >= 0.4 and server["stopped_by_joulebench"] and server["alive_after_load"]
    assert "listening on 127.0.0.1" in server["log_tail"]
    with socket.socket() as sock:  # stopped: the port is free again
        sock.bind(("127.0.0.1", port))
    with Store(db) as store:
        (point,) = store.points(kind="serving", status="ok")
        assert any("listening on" in row["line"] for row in store.records(point.id, "server_log"))


@pytest.mark.parametrize("extra, fragment", [
    (("--exit-after-s", "0.01", "--ready-after-s", "5"), "exited with code 3 before it was ready"),
    (("--ready-after-s", "60",), "not ready within 1 s"),
])
def test_a_server_that_dies_or_never_answers_is_a_clear_failure(tmp_path, capsys, extra, fragment) -> None:
    port, db = free_port(), tmp_path / "r.db"
    assert run_cli(bench(port, db, command(port, *extra), "--server-timeout", "1s")) == 1
    doc = json.loads(capsys.readouterr().out)
    assert fragment in doc["error"]
    with Store(db) as store:
        assert list(store.points(kind="serving", status="ok")) == []  # nothing stored as served


def test_a_server_that_dies_during_the_load_fails_the_checks(tmp_path, capsys) -> None:
    port, db = free_port(), tmp_path / "r.db"
    argv = bench(port, db, command(port, "--exit-after-s", "1.0"), "--arrival", "fixed:200ms", "--requests", "12")
    assert run_cli(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    assert not doc["server"]["alive_after_load"]
    assert any("exited during the load" in f for f in doc["check_failures"])
    assert "exiting on purpose" in doc["server"]["log_tail"]


def test_server_command_is_checked_before_anything_runs(tmp_path, capsys) -> None:
    db = tmp_path / "r.db"
    assert run_cli(bench(9, db, "no-such-program-xyz --port 9")) == 2
    assert "--server" in capsys.readouterr().err and not db.exists()
    assert run_cli(bench(9, db, "python 'unbalanced")) == 2
    assert not db.exists()


def test_launcher_keeps_secrets_out_of_its_report(monkeypatch) -> None:
    port = free_port()
    spec = ServerSpec(command(port) + " --tokens-per-chunk 1 --api-key=hf_abcdefghijk", f"http://127.0.0.1:{port}", 10)
    with pytest.raises(UsageError):
        ServerSpec("", "http://127.0.0.1:1").argv()
    server = ServerProcess(spec)
    with pytest.raises(ServerFailed):  # argparse refuses the unknown option: exits 2 before ready
        server.start()
    report = server.report()
    assert "hf_abcdefghijk" not in json.dumps(report) and "[redacted]" in report["command"]
    server.close()
