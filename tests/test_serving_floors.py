"""The physical floor of a request's GPU energy, ratio_to_floor of arms and of imported figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from joulebench.errors import UsageError
from joulebench.experiments.serving_arms import ArmSpec, FloorSpec
from joulebench.experiments.serving_bench import arm_environment, build_result
from joulebench.meters.nvml import GpuState
from joulebench.serving.client import LoadResult
from joulebench.serving.figures import FigureSetting, compare, figure_floor
from joulebench.serving.floors import _context_sum, card_energy, floor_arch, request_floors
from joulebench.serving.records import RequestRecord
from joulebench.values import Reading
from tests.serving_helpers import run_cli

H100_PEAK, H100_BW, H100_TDP, H100_IDLE = 989.5e12, 3.35e12, 700.0, 120.0


def test_catalogue_floor_is_the_formula() -> None:
    arch, card = floor_arch("llama-3.1-8b"), card_energy("h100-sxm", "bf16")
    assert card.energy_per_flop_j == pytest.approx((H100_TDP - H100_IDLE) / H100_PEAK)
    floors = request_floors(arch, card, [1200], [150])
    flops = floors.prefill_flops[0]
    assert flops == pytest.approx(2 * 7.5e9 * 1200, rel=0.1)  # ~2 x non-embedding params x tokens
    kv_per_token = 2 * arch.n_kv_heads * arch.head_dim * 2 * arch.n_layers
    keys = sum(1200 + 1 + k for k in range(149))
    assert floors.decode_bytes[0] == pytest.approx(kv_per_token * keys)
    expected = flops * H100_TDP / H100_PEAK + H100_IDLE * kv_per_token * keys / H100_BW
    assert floors.energy_j[0] == pytest.approx(expected)
    assert 12.0 < floors.energy_j[0] < 15.0  # the ">= ~13 J" for such a request


def test_weight_reads_are_shared_by_the_batch() -> None:
    arch, card = floor_arch("llama-3.1-8b"), card_energy("h100-sxm", "bf16")
    alone = request_floors(arch, card, [500], [101], batch=1).energy_j[0]
    shared = request_floors(arch, card, [500], [101]).energy_j[0]
    weights = (arch.n_params() - arch.vocab * arch.hidden) * 2
    assert alone - shared == pytest.approx(H100_IDLE * 100 * weights / H100_BW)
    with pytest.raises(UsageError, match="floor_batch"):
        request_floors(arch, card, [5], [5], batch=0)


@pytest.mark.parametrize("s, steps, window", [(10, 5, 12), (10, 5, 100), (50, 7, 20), (3, 0, 4)])
def test_windowed_keys_sum_is_exact(s: int, steps: int, window: int) -> None:
    brute = sum(min(s + 1 + k, window) for k in range(steps))
    assert _context_sum(np.array([float(s)]), np.array([float(steps)]), window)[0] == pytest.approx(brute)


def _profile(path, pj: float, gpu: str = "h100-sxm") -> str:
    path.write_text(yaml.safe_dump({"profile": path.stem, "gpu": {"catalogue_name": gpu},
                                    "params": {"energy_per_flop_pj": pj, "p_idle_w": 100.0}}))
    return str(path)


def test_the_best_measured_energy_per_flop_of_the_card_is_used(tmp_path) -> None:
    profiles = [_profile(tmp_path / "a.yaml", 2.0), _profile(tmp_path / "b.yaml", 0.9)]
    card = card_energy("h100-sxm", "bf16", profiles)
    assert card.energy_per_flop_j == pytest.approx(0.9e-12) and card.idle_power_w == 100.0 and "b.yaml" in card.source
    with pytest.raises(UsageError, match="not of h100-sxm"):
        card_energy("h100-sxm", "bf16", [_profile(tmp_path / "c.yaml", 0.5, "h200")])


def test_an_imported_figure_below_its_floor_is_flagged(tmp_path, capsys) -> None:
    floor = figure_floor(FigureSetting())
    assert 2.5e-3 < floor["floor_wh"] < 6e-3 and floor["floor_prefill_share"] > 0.8
    rows = compare({"tiny": 1e-4, "big": 1.0}, {})
    assert rows[0]["ratio_to_floor"] < 1 and "BELOW THE PHYSICAL FLOOR" in rows[0]["below_floor"]
    assert rows[1]["ratio_to_floor"] > 1 and rows[1]["below_floor"] is None
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"case_II_system_levers": {"serving": {"llama_8b_Wh_per_request": {
        "transformers_sequential_baseline": 0.5, "tgi_fixed_50ms": 1e-4}}}}))
    assert run_cli(["serve-floor", "--study", str(seed), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    by_name = {r["figure"]: r for r in doc["rows"]}
    assert by_name["study:tgi_fixed_50ms"]["below_floor"] and not by_name["study:transformers_sequential_baseline"][
        "below_floor"]
    assert by_name["study:transformers_sequential_baseline"]["setting"]["batch"] == 1.0


class MeteredGpu:
    """A constant-power source whose GPU reading counts as metered (a recorded H200 level)."""

    components = ["gpu"]

    def __init__(self, power_w: float) -> None:
        self.power_w = power_w

    def energy_between(self, t0_s: float, t1_s: float) -> dict[str, Reading]:
        return {"gpu": Reading("gpu", self.power_w * (t1_s - t0_s), t1_s - t0_s, "nvml-counter", False)}


def _records() -> list[RequestRecord]:
    out = []
    for i, start in enumerate((0.0, 0.5)):
        r = RequestRecord(i, start, 1000, 50, send_s=start, first_token_s=start + 0.1, end_s=start + 1.0)
        for k in range(50):
            r.add_chunk(start + 0.1 + k * 0.018, 1)
        r.prompt_tokens, r.output_tokens, r.status = 1000, 50, "ok"
        out.append(r)
    return out


@pytest.mark.parametrize("power_w, below", [(300.0, False), (2.0, True)])
def test_an_arm_reports_its_ratio_to_floor_and_fails_below_it(power_w: float, below: bool) -> None:
    arm = ArmSpec("a", "burst", 2, url="http://127.0.0.1:1", model="m",
                  floor=FloorSpec(model="llama-3.1-8b", gpu="h100-sxm"))
    valid = arm.validate()
    point = build_result(arm, valid, LoadResult(_records(), 0.0, 1.5, False), MeteredGpu(power_w), {}, {})
    floor = point.summary["floor"]
    assert floor["available"] and floor["batch_sharing_weights"] == 2.0
    assert floor["ratio_to_floor"] == pytest.approx(power_w * 1.5 / floor["total_j"])
    assert point.summary["headline"]["ratio_to_floor"] == floor["ratio_to_floor"]
    assert (floor["ratio_to_floor"] < 1) == below
    assert any("BELOW THE PHYSICAL FLOOR" in f for f in point.summary["check_failures"]) == below
    assert all(row["floor_j"] > 0 for row in point.records["requests"])


def test_an_arm_without_a_named_card_takes_the_floor_of_the_metered_one() -> None:
    """The card comes from the sweep's meters (their GPU state as recorded on the H200, 2026-12-03);
    before, the arm's environment carried no GPU and every H200 arm had no floor."""
    h200 = GpuState("GPU-9b14ac54-acbc-4da7-d77a-830cc18eb2ce", "NVIDIA H200", "580.159.04", 700.0, 345, 3201, 40)
    monitor = type("Monitor", (), {"gpu_states": [h200]})()
    arm = ArmSpec("a", "burst", 2, url="http://127.0.0.1:1", model="m", floor=FloorSpec(model="llama-3.1-8b"))
    env = arm_environment(monitor, "http://127.0.0.1:9400/metrics")
    assert env["dcgm_url"] == "http://127.0.0.1:9400/metrics"
    point = build_result(arm, arm.validate(), LoadResult(_records(), 0.0, 1.5, False), MeteredGpu(300.0), {}, env)
    assert point.summary["floor"]["available"] and point.summary["floor"]["card"]["gpu"] == "h200"
    bare = build_result(arm, arm.validate(), LoadResult(_records(), 0.0, 1.5, False), MeteredGpu(300.0), {},
                        arm_environment(object()))
    assert not bare.summary["floor"]["available"] and "--floor-gpu" in bare.summary["floor"]["reason"]


def test_a_stored_arms_floor_recomputed_from_its_records_is_the_one_computed_live() -> None:
    """The five transformers-serve arms measured on the H200 (docs/validation/serving/run_d/serve) carry the
    floor computed as they ran; recomputing it from the stored records and environment gives the same."""
    from pathlib import Path

    from joulebench.experiments.serving_bench import stored_floor
    from joulebench.store import Store

    db = Path(__file__).resolve().parents[1] / "docs" / "validation" / "serving" / "run_d" / "serve" / "serving.db.gz"
    store = Store.open_read(db)
    try:
        env = {run.id: run.env for run in store.runs()}
        points = list(store.points(kind="serving"))
        assert len(points) == 5
        for point in points:
            live = point.summary["floor"]
            again = stored_floor(point.config, point.summary, store.records(point.id, "requests"), env[point.run_id])
            assert live["available"] and again["card"]["gpu"] == "h200"
            assert again["total_j"] == pytest.approx(live["total_j"], rel=1e-12)
            assert again["ratio_to_floor"] == pytest.approx(live["ratio_to_floor"], rel=1e-12)
    finally:
        store.close()
