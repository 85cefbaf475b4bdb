"""The server wrapper sets PyTorch's cuDNN SDPA flag before the server module runs (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("torch")


def _run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "show_flags.py").write_text(
        "import sys, torch\nprint(torch.backends.cuda.cudnn_sdp_enabled(), sys.argv[1:])\n")
    return subprocess.run([sys.executable, "-m", "joulebench.serving.torch_flags", *args], capture_output=True,
                          text=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
                          timeout=120)


def test_the_wrapped_module_runs_with_the_flag_and_its_own_arguments(tmp_path) -> None:
    off = _run(tmp_path, "--sdpa-cudnn", "off", "-m", "show_flags", "serve", "--port", "1")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "False ['serve', '--port', '1']"
    plain = _run(tmp_path, "-m", "show_flags")
    assert plain.stdout.strip() == "True []"  # torch's own default, untouched


@pytest.mark.parametrize("args, field", [(("--sdpa-cudnn", "maybe", "-m", "x"), "sdpa_cudnn"),
                                         (("serve",), "command")])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, field) -> None:
    bad = _run(tmp_path, *args)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and field in bad.stderr
