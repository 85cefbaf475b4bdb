#!/usr/bin/env python3
"""Download the wheels the serving measurements need on the GPU box into ./.whl-serving (git-ignored).

The GPU image (KINDS.md) has transformers 5.17, the hub client, tokenizers, safetensors, accelerate,
aiohttp, httpx and anyio, but not what ``transformers serve`` imports (fastapi, starlette, uvicorn,
pydantic, openai and their small dependencies). The serving code is tested here with transformers 5.24
(its ContinuousBatchingConfig knobs and ``transformers serve --continuous-batching``), so 5.24 travels too;
its hub/tokenizers/safetensors pins are met by the image's versions. The CLI's small packages come from
the studies' list. Everything else is the image's, which keeps the call under 64 MiB with the tree
(the base .whl of prepare_device_wheels.py, 35 MiB, and the tree, 33 MiB, do not fit together).

Wheels are pinned to this machine's versions where the package is installed (the tests ran with
them), else the newest that pip resolves for CPython 3.12 on x86_64.

Usage: python scripts/prepare_serving_wheels.py, then carry .whl-serving and start the device command
with ``WHEELS=.whl-serving source scripts/device_env.sh``. About 20 MiB in all.
"""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_device_wheels import PLATFORMS  # noqa: E402 - one list of the box's platform tags

SERVE = ["transformers==5.24.0", "fastapi", "starlette", "uvicorn", "pydantic", "pydantic_core", "annotated-types",
         "typing-inspection", "annotated-doc", "opentelemetry-api", "importlib_metadata", "zipp", "openai", "jiter",
         "distro", "sniffio", "typing_extensions", "httpx2", "httpcore2", "truststore", "idna", "anyio"]
CLI = ["nvidia-ml-py", "typer", "click", "rich", "markdown-it-py", "mdurl", "pygments", "shellingham"]
OUT = Path(__file__).resolve().parents[1] / ".whl-serving"


def download(name: str, out: Path) -> bool:
    try:
        spec = f"{name}=={md.version(name)}"
    except md.PackageNotFoundError:
        spec = name
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", "-d", str(out), spec]
    for platform in [*PLATFORMS, "any"]:
        cmd += ["--platform", platform]
    result = subprocess.run(cmd, capture_output=True, text=True)
    print(f"{spec}: {'ok' if result.returncode == 0 else 'FAILED ' + result.stderr.strip()[-200:]}", flush=True)
    return result.returncode == 0


def main() -> int:
    OUT.mkdir(exist_ok=True)
    failed = [name for name in SERVE + CLI if not download(name, OUT)]
    size = sum(p.stat().st_size for p in OUT.glob("*.whl"))
    print(f"{OUT} holds {size / 2**20:.1f} MiB; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
