#!/usr/bin/env python3
"""Download the extra wheels the serving measurements need on the GPU box into ./.whl (git-ignored).

Beside scripts/prepare_device_wheels.py (the base set: transformers, typer, rich, httpx, ...), the GPU
image lacks what ``transformers serve`` imports (fastapi, starlette, uvicorn, pydantic, openai and
their dependencies; ``accelerate``, because the server always loads with a ``device_map``) and the load
client (aiohttp and its compiled dependencies). The box runs CPython 3.12 on x86_64 and cannot reach a
registry, so wheels are fetched here for that platform, pinned to this machine's versions where the
package is installed (the tests ran with them), else the newest that pip resolves for 3.12.

Usage: python scripts/prepare_serving_wheels.py  (after prepare_device_wheels.py; then carry .whl and
start the device command with ``source scripts/device_env.sh``). About 9 MiB in all (measured here).
"""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_device_wheels import PLATFORMS  # noqa: E402 - one list of the box's platform tags

SERVE = ["fastapi", "starlette", "uvicorn", "pydantic", "pydantic_core", "annotated-types", "typing-inspection",
         "annotated-doc", "opentelemetry-api", "openai", "jiter", "distro", "sniffio", "h11", "anyio", "accelerate"]
CLIENT = ["aiohttp", "aiohappyeyeballs", "aiosignal", "attrs", "frozenlist", "multidict", "propcache", "yarl"]


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
    out = Path(".whl")
    out.mkdir(exist_ok=True)
    failed = [name for name in SERVE + CLIENT if not download(name, out)]
    size = sum(p.stat().st_size for p in out.glob("*.whl"))
    print(f".whl holds {size / 2**20:.1f} MiB; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
