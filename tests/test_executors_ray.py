"""Sweeps on a Ray cluster: a real local Ray started here (CPU only), real tiny-llama points on CPU, a
real SQLite store checked with sqlite3 as `test_resume` does.

How points that would need a GPU are scheduled on a CPU machine: a worker's resource request follows the
point's device (`worker_options`: one GPU - of ``--gpu-type`` when given - for CUDA points, one CPU for CPU
points), so the CPU points here go through the same scheduling, worker, retry and store code as GPU
points do on a GPU cluster; the GPU side of the request is checked on recorded `ray.nodes()` shapes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

from joulebench.errors import UsageError
from joulebench.experiments.executor_choice import ExecutorChoice, open_executor
from joulebench.experiments.llm_plan import LLMPlan, protocol_overrides
from joulebench.experiments.ray_executor import RayExecutor, plan_slots, probe_gcs, worker_options
from joulebench.experiments.sweep import run_sweep
from joulebench.experiments.sweep_values import MeterSpec
from joulebench.store import Store
from tests import ray_points
from tests.test_resume import check_integrity, ok_points, wait_for_points

LENGTHS = [16, 24, 32, 40, 48, 56]


class Cluster:
    """A local Ray cluster of this test process (2 CPUs, no GPU, no dashboard); restartable."""

    def __init__(self) -> None:
        self.address = ""
        self.start()

    def start(self) -> None:
        ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
        ray.cloudpickle.register_pickle_by_value(ray_points)
        self.address = ray.get_runtime_context().gcs_address

    def restart(self) -> None:
        ray.shutdown()
        self.start()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    yield made
    ray.shutdown()


def plan(lengths: list[int] = LENGTHS) -> LLMPlan:
    return LLMPlan(models=["tiny-llama"], dtypes=["fp32"], prompt_tokens=lengths, output_tokens=[3], batches=[1],
                   device="cpu", phases=["prefill", "decode"], protocol_overrides=protocol_overrides(None, 1.0))


def sweep(db: Path, execute: object, executor: RayExecutor, lengths: list[int] = LENGTHS,
          observer: object = None) -> object:
    the_plan = plan(lengths)
    with Store(db) as store:
        return run_sweep("llm", the_plan.points(), execute, store.path, "test", the_plan.to_dict(), MeterSpec("cpu"),
                         store=store, executor=executor, observer=observer)


def stored(db: Path) -> list[tuple[int, str, str | None, dict]]:
    with sqlite3.connect(db) as conn:
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in
                conn.execute("SELECT id, status, error, summary_json FROM points ORDER BY id")]


def claims(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0])


# -- what a worker asks for, on the shapes `ray.nodes()` returns -------------------------------------
NODES = [
    {"NodeID": "a", "Alive": True, "Resources": {"CPU": 16.0, "GPU": 2.0, "accelerator_type:H200": 1.0}},
    {"NodeID": "b", "Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0, "accelerator_type:H100": 1.0}},
    {"NodeID": "c", "Alive": False, "Resources": {"CPU": 16.0, "GPU": 4.0, "accelerator_type:H200": 1.0}},
    {"NodeID": "d", "Alive": True, "Resources": {"CPU": 4.0}},
]


def test_cuda_points_get_one_gpu_each_of_the_asked_type_on_alive_nodes() -> None:
    assert worker_options(True, "H200", 8) == {"num_cpus": 8, "num_gpus": 1, "accelerator_type": "H200"}
    assert worker_options(True, None) == {"num_cpus": 1, "num_gpus": 1}
    assert [s.node_id for s in plan_slots(NODES, uses_gpu=True)] == ["a", "a", "b"]
    h200 = plan_slots(NODES, uses_gpu=True, gpu_type="H200")
    assert [s.node_id for s in h200] == ["a", "a"]  # the dead node's four H200s are not counted
    assert all(s.options == {"num_cpus": 8, "num_gpus": 1, "accelerator_type": "H200"} for s in h200)
    assert plan_slots(NODES, uses_gpu=True, gpu_type="A100") == []
    assert len(plan_slots(NODES, uses_gpu=True, workers=2)) == 2


def test_cpu_points_get_one_worker_per_alive_node_and_the_request_can_be_overridden() -> None:
    cpu = plan_slots(NODES, uses_gpu=False)
    assert [(s.node_id, s.options["num_cpus"]) for s in cpu] == [("a", 16), ("b", 8), ("d", 4)]  # whole hosts
    assert not any("num_gpus" in s.options for s in cpu)
    custom = plan_slots(NODES, uses_gpu=True, worker_resources={"num_cpus": 1, "resources": {"fake_gpu": 1}})
    assert [dict(s.options) for s in custom] == [{"num_cpus": 1, "resources": {"fake_gpu": 1}}] * 3


def test_options_that_mean_nothing_are_refused() -> None:
    with pytest.raises(UsageError, match="only with --executor ray"):
        ExecutorChoice("local", ray_address="auto").check("cpu")
    with pytest.raises(UsageError, match="only for CUDA points"):
        ExecutorChoice("ray", gpu_type="H200").check("cpu")
    with pytest.raises(UsageError, match="leave --gpus out"):
        ExecutorChoice("ray").check("cuda", [0])
    with pytest.raises(UsageError) as bad:
        ExecutorChoice("slurm").check("cpu")
    assert bad.value.field == "executor"
    with pytest.raises(UsageError) as bad:
        RayExecutor(retries=-1)
    assert bad.value.field == "ray_retries"


def test_ray_missing_is_bad_input_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without the ray extra
    with pytest.raises(UsageError) as bad:
        RayExecutor().connect()
    assert bad.value.field == "executor" and "joulebench[ray]" in str(bad.value)


@pytest.mark.parametrize(("argv", "flag"), [
    (["--executor", "slurm"], "--executor"),
    (["--gpu-type", "H200"], "--gpu-type"),
    (["--ray-address", "auto"], "--ray-address"),
    (["--executor", "ray", "--ray-retries", "-1"], "--ray-retries"),
    (["--executor", "ray", "--gpus", "0"], "--gpus"),
])
def test_bad_executor_flags_exit_2_with_one_line_and_nothing_written(argv: list[str], flag: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from joulebench.cli import main

    db = tmp_path / "never.db"
    with pytest.raises(SystemExit) as exit_info:
        main(["measure", "llm", "tiny-llama", "--device", "cpu", "--db", str(db), *argv])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(err) == 1, err
    assert err[0].startswith(f"joulebench: error: {flag} ") and "Traceback" not in err[0]
    assert list(tmp_path.iterdir()) == []  # no database, nothing beside it


def test_an_address_where_nothing_listens_is_refused_at_once(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free now, and nothing listens on it
    with pytest.raises(UsageError) as bad:
        probe_gcs(f"127.0.0.1:{port}")  # where ray.init was seen waiting for over 5 minutes
    assert bad.value.field == "ray_address" and "nothing answers" in str(bad.value)
    with pytest.raises(UsageError, match="host:port"):
        probe_gcs("headnode")


# -- on the real cluster ------------------------------------------------------------------------------
def test_a_cluster_without_gpus_refuses_cuda_points_before_any_work(cluster: Cluster, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as bad:
        with open_executor(ExecutorChoice("ray", ray_address=cluster.address), "cuda"):
            pass
    assert bad.value.field == "executor" and "no GPU" in str(bad.value)
    with pytest.raises(UsageError) as typed:
        with open_executor(ExecutorChoice("ray", ray_address=cluster.address, gpu_type="H200"), "cuda"):
            pass
    assert typed.value.field == "gpu_type" and "GPU types there: none" in str(typed.value)
    assert ray.is_initialized()  # the test's own connection is left as it was


def test_real_points_run_on_a_worker_and_the_driver_stores_each_with_its_node(cluster: Cluster, tmp_path: Path) -> None:
    from joulebench.workloads.llm import run_llm_point

    db = tmp_path / "ray.db"
    executor = RayExecutor(address=cluster.address)
    observer = ray_points.RecordingObserver()
    try:
        result = sweep(db, ray_points.raise_at_planted, executor, LENGTHS[:3], observer)
        first = stored(db)
        again = sweep(db, run_llm_point, executor, LENGTHS[:3])  # a resume on the same workers
    finally:
        executor.close()
    assert [o.status for o in result.outcomes] == ["done", "failed", "done"] and result.exit_code == 1
    assert sorted(observer.of("start")) == [0, 1, 2]
    assert sorted(observer.of("finish")) == [(0, "done"), (1, "failed"), (2, "done")]
    assert {"prefill", "decode"} & set(observer.of("rep")), "no repetition reached the progress view"
    failed = [(error, summary) for _, status, error, summary in first if status == "failed"]
    assert len(failed) == 1 and failed[0][0] == "ValueError: planted failure at s=24"  # as a local run stores it
    assert failed[0][1]["node"]["attempt"] == 1  # an error of the point is not a lost worker: no retry
    assert [o.status for o in again.outcomes] == ["skipped", "done", "skipped"]  # only the failed point again
    rows = stored(db)
    assert len(rows) == 3 and all(status == "ok" for _, status, _, _ in rows)
    nodes = [summary["node"] for _, _, _, summary in rows]
    assert all(n["attempt"] == 1 and n["workers_on_node"] == 1 for n in nodes)
    assert nodes[0]["omp_num_threads"] == "2"  # the worker has the host's two cores, as a local run does
    assert os.getpid() not in {n["worker_pid"] for n in nodes}  # measured in a worker, not in the driver
    assert len({n["worker_pid"] for n in nodes}) == 1  # one worker kept its model across points and sweeps
    env = nodes[0]["env"]
    assert env["libraries"]["joulebench"] and env["meters"], "the node's environment was not stored"
    assert nodes[0]["baseline"]["cold"]["power_w"], "the worker's idle baseline was not stored"
    with Store.open_read(db) as store:
        run = store.runs()[0]
    assert run.env["executor"]["name"] == "ray" and run.env["executor"]["workers"] == 1
    assert run.baseline["idle_power_w"] and len(run.baseline["workers"]) == 1
    check_integrity(db)
    assert claims(db) == 0


def test_a_point_whose_worker_always_dies_is_stored_failed_after_bounded_retries(cluster: Cluster,
                                                                                 tmp_path: Path) -> None:
    from joulebench.workloads.llm import run_llm_point

    db = tmp_path / "dies.db"
    executor = RayExecutor(address=cluster.address, retries=1)
    try:
        result = sweep(db, ray_points.die_at_planted, executor, LENGTHS[:2])
        first = stored(db)
        resumed = sweep(db, run_llm_point, executor, LENGTHS[:2])  # a resume measures the failed point again
    finally:
        executor.close()
    assert [o.status for o in result.outcomes] == ["done", "failed"]
    assert [status for _, status, _, _ in first] == ["ok", "failed"]
    assert [o.status for o in resumed.outcomes] == ["skipped", "done"]
    failed = result.outcomes[1].error or ""
    assert failed.startswith("worker lost") and "gave up after 2 attempt(s)" in failed
    check_integrity(db)
    assert claims(db) == 0


def test_a_worker_killed_mid_point_is_replaced_and_its_point_measured_once(cluster: Cluster, tmp_path: Path) -> None:
    from joulebench.workloads.llm import run_llm_point

    db = tmp_path / "killed.db"
    executor = RayExecutor(address=cluster.address)
    outcome: dict[str, object] = {}

    def drive() -> None:
        try:
            outcome["result"] = sweep(db, run_llm_point, executor, LENGTHS[:5])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=drive)
    thread.start()
    try:
        deadline = time.time() + 300
        while ok_points(db) < 1:
            assert thread.is_alive() and time.time() < deadline, outcome.get("error", "no point was stored in time")
            time.sleep(0.1)
        victim = stored(db)[0][3]["node"]["worker_pid"]
        os.kill(victim, signal.SIGKILL)  # the driver has handed it the next point already
        thread.join(timeout=400)
    finally:
        executor.close()
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    rows = stored(db)
    assert len(rows) == 5 and all(status == "ok" for _, status, _, _ in rows)
    retried = [summary["node"] for _, _, _, summary in rows if summary["node"]["attempt"] == 2]
    assert len(retried) == 1, "the killed worker's point was not retried exactly once"
    assert retried[0]["worker_pid"] != victim
    check_integrity(db)  # no duplicate key, no point without its rows
    assert claims(db) == 0


# -- the driver interrupted: a real CLI process, then a resume (after SIGKILL on a restarted cluster) ----
def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a user's Ctrl-C would find it (see test_resume)


def start_driver(db: Path, address: str, *extra: str) -> subprocess.Popen[str]:
    args = ["measure", "llm", "tiny-llama", "--device", "cpu", "--dtype", "fp32", "--prompt-tokens",
            ",".join(map(str, LENGTHS)), "--output-tokens", "3", "--phases", "prefill,decode", "--point-budget-s", "1",
            "--db", str(db),
            "--executor", "ray", "--ray-address", address, *extra]
    env = dict(os.environ, HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.Popen([sys.executable, "-m", "joulebench", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_driver_resumes_with_no_point_lost_or_doubled(
        cluster: Cluster, tmp_path: Path, sig: signal.Signals) -> None:
    db = tmp_path / "driver.db"
    proc = start_driver(db, cluster.address)
    wait_for_points(db, 2, proc, timeout_s=300)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
        assert claims(db) == 0  # the driver released the claim of the point in flight
    before = check_integrity(db)
    assert 2 <= len(before) < len(LENGTHS)
    if sig == signal.SIGKILL:
        cluster.restart()  # the cluster goes down and comes back: a new address, no worker of the first driver
    rerun = start_driver(db, cluster.address, "--json")
    stdout, stderr = rerun.communicate(timeout=400)
    assert rerun.returncode == 0, stderr
    doc = json.loads(stdout)  # stdout holds the one JSON document; Ray's messages went to stderr
    assert len(doc["points"]) + len(doc["skipped"]) == len(LENGTHS)
    assert len(doc["skipped"]) == len(before)
    after = check_integrity(db)
    assert len(after) == len(LENGTHS)
    assert after[: len(before)] == before  # finished points were skipped, not measured again
    assert claims(db) == 0  # a dead driver's claim was stale and taken over
