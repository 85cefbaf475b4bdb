"""docs/QUICKSTART.md stays true: every command in its bash blocks runs, in order, in an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).parents[1] / "docs" / "QUICKSTART.md"


def commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", QUICKSTART.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_every_quickstart_command_runs(tmp_path: Path) -> None:
    lines = commands()
    assert len(lines) >= 10 and all(line.startswith("joulebench") for line in lines)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "joulebench"  # the command as a fresh install names it, on this interpreter
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m joulebench \"$@\"\n")
    shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="", PATH=f"{bin_dir}:{os.environ['PATH']}")
    for line in lines:
        result = subprocess.run(["sh", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr, line
    assert (work / "points.csv").read_text().count("\n") == 3  # header and the two measured points
    assert not (work / "never.db").exists()


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    root = Path(__file__).parents[1]
    readme = root.joinpath("README.md").read_text()
    block = re.search(r"# 2\. [^\n]*\n([^\n]+)\n", readme)
    assert block, "README keeps its numbered set-up commands"
    ci = root.joinpath(".ci", "run").read_text().splitlines()
    assert block.group(1).strip() in [line.strip() for line in ci]
