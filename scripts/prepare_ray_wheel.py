#!/usr/bin/env python3
"""Put a slim ray wheel (and the few small packages ray needs that the GPU image lacks) into ./.whl-ray.

Why slim: the ray 2.60 wheel for Python 3.12 is ~79 MB, over the 64 MiB a device call may carry. 32 MB
of it is the Java worker (ray/jars), and a few more the dashboard's web build and the libraries (RLlib,
Tune, Train, Data, Serve, LLM) that a sweep never imports; without them the wheel is ~40 MB, and ~29 MB
with its three native binaries LZMA-compressed (scripts/wheel_cut.py). Everything
the core needs (raylet, GCS server, _raylet.so, the dashboard agent's Python) stays. The wheel's RECORD is
rewritten to list what is left (scripts/wheel_cut.py).

Usage (here, in the repository root; .whl-ray must be git-ignored, e.g. in .git/info/exclude):
    python3 scripts/prepare_ray_wheel.py            # ray as installed here, for cp312 x86-64
    python3 scripts/prepare_ray_wheel.py --python 3.11 --out /tmp/ray311   # a local trial of the same cut
then pass ".whl-ray" in the device call's carry list (scripts/compare_ray_executor.sh installs it).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

from wheel_cut import cut

#: parts of the ray wheel a sweep never loads
DROPPED = ("ray/jars/", "ray/dashboard/client/build/", "ray/rllib/", "ray/tune/", "ray/train/", "ray/data/",
           "ray/serve/", "ray/llm/")
#: members stored LZMA-compressed (raylet, gcs_server, _raylet.so: ~10 MiB less than deflate); with the
#: tree at ~23 MiB the deflated cut (~43 MiB with the CLI wheels) no longer fits a call's 64 MiB
LZMA_OVER_BYTES = 8 * 2**20
#: ray's requirements missing from the GPU image (KINDS.md lists what it has)
EXTRA = ["jsonschema", "referencing", "jsonschema-specifications", "rpds-py"]
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "manylinux_2_5_x86_64",
             "manylinux1_x86_64", "any"]


def download(name: str, python: str, out: Path) -> bool:
    try:
        version = md.version(name)
    except md.PackageNotFoundError:
        print(f"skip {name}: not installed here")
        return False
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           python, "--implementation", "cp", "-d", str(out), f"{name}=={version}"]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    done = subprocess.run(cmd, capture_output=True, text=True)
    print(f"{name}=={version}: {'ok' if done.returncode == 0 else 'FAILED ' + done.stderr.strip()[-300:]}")
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="target Python version (the GPU image has 3.12)")
    parser.add_argument("--out", default=".whl-ray", help="folder for the wheels")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not download("ray", args.python, out):
        return 1
    for name in EXTRA:
        download(name, args.python, out)
    for wheel in out.glob("ray-*.whl"):
        before, after = cut(wheel, lambda name: name.startswith(DROPPED), lzma_over_bytes=LZMA_OVER_BYTES)
        print(f"{wheel.name}: {before:.1f} MiB -> {after:.1f} MiB")
    total = sum(p.stat().st_size for p in out.glob("*.whl"))
    print(f"{out}: {total / 2**20:.1f} MiB in all (a device call carries at most 64 MiB, the tree included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
