"""The serving wheels' transformers, cut to fit a device call: which model folders stay whole.

On 2026-12-07 a wheel cut to the reachable model folders alone failed to start `transformers serve`
(its first auto class's error message imports every registered configuration); the cut now keeps every
family's ``__init__`` and configuration, and whole only the families something imports."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .scripts_loader import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(ROOT / "scripts"))
    return load_script("prepare_serving_wheels")


def _wheel(path: Path) -> Path:
    """A wheel shaped like transformers': the library names llama; llama imports mistral; qwen2 and jev
    are only registered; gemma3 is one of our bundled configs' families (``gemma3_text``)."""
    files = {
        "transformers/__init__.py": "",
        "transformers/cli/serve.py": "from transformers.models.llama import LlamaForCausalLM\n",
        "transformers/models/__init__.py": "",
        "transformers/models/auto/__init__.py": "",
        "transformers/models/auto/auto_mappings.py": "MAPPING = [('jev', 'JevConfig'), ('qwen2', 'Qwen2Config')]\n",
        "transformers/models/llama/__init__.py": "",
        "transformers/models/llama/modeling_llama.py": "from ..mistral.modeling_mistral import X\n",
        "transformers/models/mistral/__init__.py": "",
        "transformers/models/mistral/modeling_mistral.py": "X = 1\n",
        "transformers/models/jev/__init__.py": "",
        "transformers/models/jev/configuration_jev.py": "class JevConfig: ...\n",
        "transformers/models/jev/modeling_jev.py": "W = 'x' * 10000\n",
        "transformers/models/gemma3/__init__.py": "",
        "transformers/models/gemma3/modeling_gemma3.py": "G = 1\n",
    }
    record = "transformers-0.0.dist-info/RECORD"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
        zf.writestr("transformers-0.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("transformers-0.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: transformers\nVersion: 0.0\n")
        zf.writestr(record, "")
    return path


def test_the_cut_keeps_what_anything_imports_and_every_configuration(script, tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "transformers-0.0-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        kept = script.kept_model_families(zf, {"gemma3"})
    assert kept == {"auto", "llama", "mistral", "gemma3"}  # named, imported by a kept one, a bundled family
    _, _, whole = script.slim_transformers(wheel)  # the bundled configs' families: gemma3 among them
    assert whole == 4
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        record = zf.read("transformers-0.0.dist-info/RECORD").decode()
    assert "transformers/models/jev/modeling_jev.py" not in names
    assert {"transformers/models/jev/__init__.py", "transformers/models/jev/configuration_jev.py",
            "transformers/models/mistral/modeling_mistral.py", "transformers/models/gemma3/modeling_gemma3.py"} <= names
    assert "modeling_jev" not in record and "configuration_jev.py" in record  # pip checks the RECORD
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                                str(target), str(wheel)], capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    assert (target / "transformers" / "models" / "jev" / "configuration_jev.py").is_file()
