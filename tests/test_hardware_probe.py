"""The probe on the CPU: small sizes, a valid entry, usable by the predictor."""

from __future__ import annotations

from joulebench.hardware import get_accelerator
from joulebench.hardware.probe import ProbeSettings, probe, write_entry


def test_cpu_probe_writes_a_usable_entry(tmp_path):
    acc = probe(
        "cpu",
        name="test-cpu",
        settings=ProbeSettings(matmul_n=128, copy_bytes=4 << 20, seconds_per_test=0.05),
    )
    assert acc.kind == "cpu"
    assert acc.peak_flops("fp32") > 1e8  # any real CPU does more than 0.1 GFLOP/s
    assert acc.memory_bandwidth_bytes_per_s > 1e8
    assert acc.peak_flops_per_s["tf32"] is None  # no TF32 on CPU
    path = write_entry(acc, tmp_path / "cpu.yaml")
    again = get_accelerator(str(path))
    assert again.name == "test-cpu"
    assert again.peak_flops("fp32") == acc.peak_flops("fp32")
    assert "probe" in again.sources["peak_flops_per_s"]
