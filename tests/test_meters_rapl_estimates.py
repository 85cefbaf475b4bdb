"""RAPL parsing and wraparound on a fixture sysfs tree; estimate labelling; wrap/reset tracking."""

from __future__ import annotations

from pathlib import Path

import pytest

from joulebench.meters.base import WrapTracker
from joulebench.meters.estimates import CpuEstimateMeter, RamEstimateMeter, cpu_power_model
from joulebench.meters.monitor import EnergyMonitor, MonitorConfig
from joulebench.meters.rapl import RaplMeter, find_rapl_domains


def make_zone(root: Path, zone: str, name: str, energy_uj: int, max_uj: int) -> Path:
    path = root / zone
    path.mkdir(parents=True)
    (path / "name").write_text(name + "\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return path


def test_rapl_finds_package_and_dram_and_skips_others(tmp_path: Path) -> None:
    make_zone(tmp_path, "intel-rapl:0", "package-0", 1000, 262143328850)
    make_zone(tmp_path, "intel-rapl:0:0", "core", 10, 262143328850)
    make_zone(tmp_path, "intel-rapl:0:1", "dram", 20, 65712999613)
    domains = find_rapl_domains(tmp_path)
    assert [(d.component, d.name.split("@")[0]) for d in domains] == [("cpu", "package-0"), ("ram", "dram")]


def test_rapl_wraparound_uses_max_energy_range(tmp_path: Path) -> None:
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000, 1_000_000_000)
    meter = RaplMeter(find_rapl_domains(tmp_path)[0])
    assert meter.read_energy_j(0.0) == 0.0
    (zone / "energy_uj").write_text("500000\n")  # wrapped: +1e6 uJ to the top, +0.5e6 after
    assert meter.read_energy_j(1.0) == pytest.approx(1.5)
    (zone / "energy_uj").write_text("2500000\n")
    assert meter.read_energy_j(2.0) == pytest.approx(3.5)


def test_unreadable_rapl_is_skipped(tmp_path: Path) -> None:
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 1, 10)
    (zone / "energy_uj").write_text("not a number\n")
    assert find_rapl_domains(tmp_path) == []
    assert find_rapl_domains(tmp_path / "absent") == []


def test_wrap_tracker_treats_decrease_without_range_as_reset() -> None:
    tracker = WrapTracker()
    assert tracker.update(100.0) == 0.0
    assert tracker.update(150.0) == 50.0
    assert tracker.update(20.0) == 70.0  # reset to zero then +20
    assert tracker.resets == 1


def test_estimates_are_labelled_and_never_zero() -> None:
    cpu = CpuEstimateMeter()
    ram = RamEstimateMeter(total_bytes=16 * 10**9)
    assert cpu.estimated and ram.estimated
    assert cpu.source.startswith("estimate") and ram.source.startswith("estimate")
    cpu.read_energy_j(0.0)
    assert cpu.read_energy_j(1.0) >= cpu.model.p_idle_w * 0.99
    ram.read_energy_j(0.0)
    assert ram.read_energy_j(2.0) == pytest.approx(2 * 16 * 0.375)


def test_cpu_model_uses_table_then_per_thread_default() -> None:
    known = cpu_power_model("Intel(R) Xeon(R) Platinum 8480+", threads=16)
    assert known.p_max_w == pytest.approx(350.0 / 112 * 16)
    assert "8480" in known.basis
    unknown = cpu_power_model("Some Future CPU", threads=4)
    assert unknown.p_max_w == pytest.approx(20.0) and "default" in unknown.basis


def test_monitor_without_gpu_reports_labelled_cpu_and_ram() -> None:
    with EnergyMonitor.open(MonitorConfig(gpus=[], cpu=True, ram=True)) as monitor:
        import time

        t0 = time.perf_counter()
        time.sleep(0.2)
        readings = monitor.energy_between(t0, time.perf_counter())
    assert set(readings) == {"cpu", "ram"}
    assert all(r.estimated and r.energy_j > 0 for r in readings.values())
