#!/usr/bin/env python3
"""Download the wheels the GPU machine lacks into ./.whl (git-ignored), pinned to this machine's versions.

The GPU image has torch, numpy and an older transformers; it cannot reach any registry. We carry the
same transformers and the CLI/telemetry packages that the local tests ran with, so behaviour on the GPU
matches CI. torch, numpy and CUDA libraries are never carried (the image's own are used).
Usage: python scripts/prepare_device_wheels.py  (then pass .whl in the device call's carry list and
start the command with scripts/device_env.sh).

``--studies`` makes the set of the LLM studies instead (scripts/measure_llm_studies.py): the quantization
libraries (bitsandbytes 0.50.2 cut to its CUDA 13 kernels, 6.8 MiB; torchao 0.18.0, which needs torch >= 2.11)
and the CLI's small packages. transformers, tokenizers and the hub client then come from the GPU image
(transformers 5.17, whose bitsandbytes and torchao integrations match what workloads/quantization.py
calls).
"""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys
from pathlib import Path

from wheel_cut import cut

PACKAGES = [
    "nvidia-ml-py", "transformers", "tokenizers", "huggingface_hub", "safetensors", "regex", "typer",
    "annotated-doc", "pydantic", "pydantic_core", "typing-inspection", "annotated-types", "typing_extensions",
    "rich", "markdown-it-py", "mdurl", "pygments", "shellingham", "click", "httpx", "httpcore", "h11", "anyio",
    "certifi", "idna", "psutil", "httpcore2", "truststore", "diffusers", "importlib_metadata", "zipp", "httpx2",
    "hf-xet", "fsspec",
    "filelock", "tqdm", "packaging", "pyyaml",
]
STUDIES = ["bitsandbytes", "torchao", "nvidia-ml-py", "typer", "annotated-doc", "pydantic", "pydantic_core",
           "typing-inspection", "annotated-types", "click", "rich", "markdown-it-py",
           "mdurl", "pygments", "shellingham", "typing_extensions"]
#: bitsandbytes ships one kernel library per CUDA/ROCm release (41 MiB in all); the image's torch is built
#: for CUDA 13, so only the CUDA 13 libraries travel (the rest put a call over its 64 MiB)
KEEP_BNB = ("bitsandbytes/libbitsandbytes_cuda13",)
#: versions to fetch where the package is not installed on this machine
PINNED = {"bitsandbytes": "0.50.2", "torchao": "0.18.0"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64", "manylinux_2_24_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64",
             "manylinux_2_35_x86_64", "manylinux_2_5_x86_64"]


def main() -> int:
    out = Path(".whl")
    out.mkdir(exist_ok=True)
    for name in STUDIES if "--studies" in sys.argv[1:] else PACKAGES:
        try:
            version = md.version(name)
        except md.PackageNotFoundError:
            if name not in PINNED:
                print(f"skip {name}: not installed here")
                continue
            version = PINNED[name]
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
               "3.12", "--implementation", "cp", "-d", str(out), f"{name}=={version}"]
        for platform in PLATFORMS:
            cmd += ["--platform", platform]
        cmd += ["--platform", "any"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        print(f"{name}=={version}: {'ok' if result.returncode == 0 else 'FAILED ' + result.stderr.strip()[-200:]}")
    for wheel in out.glob("bitsandbytes-*.whl"):
        before, after = cut(wheel, lambda n: n.startswith("bitsandbytes/libbitsandbytes_") and not n.startswith(KEEP_BNB))
        print(f"{wheel.name}: {before:.1f} MiB -> {after:.1f} MiB (CUDA 13 kernels only)")
    total = sum(p.stat().st_size for p in out.glob("*.whl"))
    print(f"{out}: {total / 2**20:.1f} MiB in all (a device call carries at most 64 MiB, the tree included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
