"""Catalogue values pinned against the datasheets named in their sources (dense peaks, SI units)."""

from __future__ import annotations

import pytest

from joulebench.errors import UsageError
from joulebench.hardware import catalogue, get_accelerator, names
from joulebench.hardware.catalogue import name_for_device

EXPECTED_NAMES = {
    "h100-sxm",
    "h100-pcie",
    "h200",
    "a100-40gb-sxm",
    "a100-80gb-sxm",
    "l4",
    "l40s",
    "a10g",
    "rtx-4090",
    "b200",
    "mi300x",
}


def test_all_required_names_present():
    assert EXPECTED_NAMES <= set(names())


@pytest.mark.parametrize(
    "name, precision, tflops",
    [
        # NVIDIA H100 datasheet, SXM: FP32 67, TF32 989*, BF16 1979*, FP8 3958* (* with sparsity)
        ("h100-sxm", "fp32", 67),
        ("h100-sxm", "tf32", 494.5),
        ("h100-sxm", "bf16", 989.5),
        ("h100-sxm", "fp8", 1979),
        ("h100-sxm", "int8", 1979),
        # H100 PCIe: FP32 51, BF16 1513*
        ("h100-pcie", "fp32", 51),
        ("h100-pcie", "bf16", 756),
        # H200 SXM: same tensor cores as H100 SXM
        ("h200", "bf16", 989.5),
        ("h200", "fp32", 67),
        # A100: FP32 19.5, TF32 156, BF16 312 (dense), INT8 624
        ("a100-80gb-sxm", "fp32", 19.5),
        ("a100-80gb-sxm", "tf32", 156),
        ("a100-40gb-sxm", "bf16", 312),
        ("a100-40gb-sxm", "int8", 624),
        # L4: FP32 30.3, FP16 242* ; L40S: FP32 91.6, BF16 733*
        ("l4", "fp32", 30.3),
        ("l4", "fp16", 121),
        ("l40s", "fp32", 91.6),
        ("l40s", "bf16", 366),
        # RTX 4090 (Ada whitepaper, FP32 accumulate): FP32 82.6, FP16 tensor 165.2
        ("rtx-4090", "fp32", 82.6),
        ("rtx-4090", "fp16", 165.2),
        # MI300X: FP32 163.4, BF16 1307.4 dense
        ("mi300x", "fp32", 163.4),
        ("mi300x", "bf16", 1307.4),
        # B200 (DGX B200 / 8): FP8 4.5 PF dense, BF16 2.25 PF dense
        ("b200", "fp8", 4500),
        ("b200", "bf16", 2250),
    ],
)
def test_peaks_against_datasheets(name, precision, tflops):
    assert get_accelerator(name).peak_flops(precision) == pytest.approx(tflops * 1e12, rel=1e-9)


@pytest.mark.parametrize(
    "name, bandwidth_tb_s, memory_gb, tdp_w",
    [
        ("h100-sxm", 3.35, 80, 700),
        ("h100-pcie", 2.0, 80, 350),
        ("h200", 4.8, 141, 700),
        ("a100-40gb-sxm", 1.555, 40, 400),
        ("a100-80gb-sxm", 2.039, 80, 400),
        ("l4", 0.3, 24, 72),
        ("l40s", 0.864, 48, 350),
        ("rtx-4090", 1.008, 24, 450),
        ("mi300x", 5.3, 192, 750),
    ],
)
def test_memory_and_power(name, bandwidth_tb_s, memory_gb, tdp_w):
    acc = get_accelerator(name)
    assert acc.memory_bandwidth_bytes_per_s == pytest.approx(bandwidth_tb_s * 1e12)
    assert acc.memory_bytes == pytest.approx(memory_gb * 1e9)
    assert acc.tdp_w == tdp_w


def test_every_value_has_a_source():
    for acc in catalogue().values():
        for key in (
            "peak_flops_per_s",
            "memory_bandwidth_bytes_per_s",
            "memory_bytes",
            "tdp_w",
            "idle_power_w",
        ):
            assert acc.sources.get(key), (acc.name, key)


def test_missing_precision_is_a_usage_error():
    with pytest.raises(UsageError, match="fp8"):
        get_accelerator("a100-80gb-sxm").peak_flops("fp8")


def test_unknown_gpu_lists_valid_names():
    with pytest.raises(UsageError, match="h100-sxm"):
        get_accelerator("h999")


@pytest.mark.parametrize(
    "device, expected",
    [
        ("NVIDIA H100 80GB HBM3", "h100-sxm"),
        ("NVIDIA H200", "h200"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA A100-SXM4-80GB", "a100-80gb-sxm"),
        ("NVIDIA A100-SXM4-40GB", "a100-40gb-sxm"),
        ("NVIDIA L40S", "l40s"),
        ("NVIDIA L4", "l4"),
        ("NVIDIA A10G", "a10g"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("AMD Instinct MI300X", "mi300x"),
        ("Tesla T4", None),
    ],
)
def test_device_name_mapping(device, expected):
    assert name_for_device(device) == expected


def test_user_yaml_adds_entries(tmp_path, monkeypatch):
    path = tmp_path / "hw.yaml"
    path.write_text(
        "accelerators:\n  my-gpu:\n    peak_flops_per_s: {bf16: 1.0e+15, fp32: 5.0e+13}\n"
        "    memory_bandwidth_bytes_per_s: 2.0e+12\n    memory_bytes: 4.0e+10\n    tdp_w: 300\n"
        "    idle_power_w: 40\n    sources: {peak_flops_per_s: mine}\n"
    )
    assert get_accelerator("my-gpu", path).peak_flops("bf16") == 1e15
    monkeypatch.setenv("JOULEBENCH_HARDWARE", str(path))
    assert "my-gpu" in names()
    assert get_accelerator(str(path)).name == "my-gpu"  # a one-entry file works as --gpu FILE


def test_user_yaml_with_missing_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("accelerators:\n  x:\n    peak_flops_per_s: {bf16: 1.0}\n")
    with pytest.raises(UsageError, match="memory_bandwidth_bytes_per_s"):
        get_accelerator("x", path)


def test_sm_counts_and_idle_ranges_have_sources():
    for acc in catalogue().values():
        assert acc.sm_count and acc.sm_count > 0 and acc.sources.get("sm_count"), acc.name
        lo, hi = acc.idle_power_range_w
        assert 0 < lo < acc.idle_power_w < hi < acc.tdp_w, acc.name
    assert get_accelerator("h100-sxm").sm_count == 132 and get_accelerator("a100-80gb-sxm").sm_count == 108


def test_user_yaml_sm_count_and_idle_range(tmp_path):
    path = tmp_path / "hw.yaml"
    path.write_text(
        "accelerators:\n  my-gpu:\n    peak_flops_per_s: {bf16: 1.0e+15}\n    memory_bandwidth_bytes_per_s: 2.0e+12\n"
        "    memory_bytes: 4.0e+10\n    tdp_w: 300\n    idle_power_w: 40\n    sm_count: 100\n"
        "    idle_power_range_w: [30, 60]\n"
    )
    acc = get_accelerator("my-gpu", path)
    assert acc.sm_count == 100 and acc.idle_power_range_w == (30.0, 60.0)
    path.write_text(path.read_text().replace("[30, 60]", "[60, 30]"))
    with pytest.raises(UsageError, match="idle_power_range_w"):
        get_accelerator("my-gpu", path)
