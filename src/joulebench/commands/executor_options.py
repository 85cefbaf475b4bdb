"""The ``--executor local|ray`` option set, shared by every command that runs a plan.

A command adds the four parameters below to its signature and builds an `ExecutorChoice` from them;
`experiments.executor_choice.open_executor` then validates the choice against the plan (before any work) and
yields the executor to pass to the sweep::

    def measure_x(..., executor: str = EXECUTOR, ray_address: str | None = RAY_ADDRESS,
                  gpu_type: str | None = GPU_TYPE, ray_retries: int = RAY_RETRIES) -> None:
        choice = ExecutorChoice(executor, ray_address, gpu_type, ray_retries)
        with open_executor(choice, device, gpus) as chosen:
            run_sweep(..., executor=chosen)
"""

from __future__ import annotations

import typer

from joulebench.experiments.executors import DEFAULT_RETRIES

EXECUTOR = typer.Option("local", "--executor", help="where points run: local (this process) or ray (one worker "
                        "per GPU of a Ray cluster; results still go to --db from here)")
RAY_ADDRESS = typer.Option(None, "--ray-address", help="--executor ray: the cluster (auto, host:port, ray://host:port;"
                           " default: RAY_ADDRESS, else a new local cluster)")
GPU_TYPE = typer.Option(None, "--gpu-type", help="--executor ray: only GPUs of this Ray accelerator type (e.g. H200)")
RAY_RETRIES = typer.Option(DEFAULT_RETRIES, "--ray-retries", help="--executor ray: retries of a point whose worker "
                           "died, before it is stored failed")
