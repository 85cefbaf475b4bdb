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

The transformers wheel keeps whole only the model families anything can reach (`slim_transformers`;
the others keep their configurations; 12.9 -> 6.7 MiB): its ``models/`` folder is 10.4 of its 13.5 MiB,
and on 2026-12-07 the tracked files (41.7 MiB, and every tracked file travels) left too little room for
the uncut wheel beside the must-show's growing store: a call was refused at 64 MiB.

Usage: python scripts/prepare_serving_wheels.py, then carry .whl-serving and start the device command
with ``WHEELS=.whl-serving source scripts/device_env.sh``. About 12 MiB in all.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from prepare_device_wheels import PLATFORMS  # noqa: E402 - one list of the box's platform tags
from wheel_cut import cut  # noqa: E402

SERVE = ["transformers==5.24.0", "fastapi", "starlette", "uvicorn", "pydantic", "pydantic_core", "annotated-types",
         "typing-inspection", "annotated-doc", "opentelemetry-api", "importlib_metadata", "zipp", "openai", "jiter",
         "distro", "sniffio", "typing_extensions", "httpx2", "httpcore2", "truststore", "idna", "anyio"]
CLI = ["nvidia-ml-py", "typer", "click", "rich", "markdown-it-py", "mdurl", "pygments", "shellingham"]
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".whl-serving"
MODELS = "transformers/models/"


def kept_model_families(wheel: zipfile.ZipFile, roots: set[str]) -> set[str]:
    """The model folders of ``wheel`` that the code outside ``models/`` names, ``roots`` (our bundled
    configs' ``model_type``s) and ``auto``, closed over the imports between model folders. A name the
    library only writes as a string (the auto mappings) stays reachable if its folder is kept; the rest
    is never imported when only these families load."""
    modules = {n: wheel.read(n).decode("utf-8", "replace") for n in wheel.namelist() if n.endswith(".py")}
    present = {n[len(MODELS):].split("/")[0] for n in modules if n.startswith(MODELS) and n.count("/") > 2}
    outside = " ".join(text for name, text in modules.items() if not name.startswith(MODELS))
    keep = {"auto"} | {m for m in re.findall(r"models\.([a-z0-9_]+)", outside) if m in present} | (roots & present)
    todo = list(keep)
    while todo:
        family = todo.pop()
        for name, text in modules.items():
            if name.startswith(f"{MODELS}{family}/"):
                for other in re.findall(r"from \.\.([a-z0-9_]+)[. ]", text):
                    if other in present and other not in keep:
                        keep.add(other)
                        todo.append(other)
    return keep


def slim_transformers(wheel: Path) -> tuple[float, float, int]:
    """Cut the model folders of ``wheel`` not in `kept_model_families` to their ``__init__`` and
    configuration modules; MiB before and after, folders kept whole. The configurations stay because
    `transformers serve` tries ``AutoModelForDecision`` first and its error message iterates every
    registered configuration class (seen on 2026-12-07: a wheel without the folders failed to start)."""
    configs = (ROOT / "src/joulebench/configs/models").glob("*.json")
    types = {json.loads(p.read_text()).get("model_type", "") for p in configs}
    roots = types | {t.removesuffix("_text") for t in types}  # gemma3_text lives in gemma3/
    with zipfile.ZipFile(wheel) as zf:
        keep = kept_model_families(zf, roots)

    def drop(name: str) -> bool:
        if not name.startswith(MODELS) or name.count("/") < 3 or name[len(MODELS):].split("/")[0] in keep:
            return False
        base = name.rsplit("/", 1)[1]
        return not (base == "__init__.py" or base.startswith("configuration_"))

    before, after = cut(wheel, drop)
    return before, after, len(keep)


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
    for wheel in OUT.glob("transformers-*.whl"):
        before, after, kept = slim_transformers(wheel)
        print(f"{wheel.name}: {before:.1f} MiB -> {after:.1f} MiB ({kept} model families kept)")
    size = sum(p.stat().st_size for p in OUT.glob("*.whl"))
    print(f"{OUT} holds {size / 2**20:.1f} MiB; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
