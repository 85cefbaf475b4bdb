"""The real diffusers pipelines of every family, tiny random configs of the same classes, on the CPU:
windows inside the call add up to it, guidance runs as the family table says, sampled runs predict the
full run with an interval, and points are validated before any work. No timing assertions: what is
checked is structure and arithmetic that can fail."""

from __future__ import annotations

import math

import pytest

from joulebench.errors import UsageError
from joulebench.experiments.video_plan import VideoPlan, run_video_plan
from joulebench.models.video import FAMILIES, load_spec
from joulebench.store import Store
from joulebench.workloads.diffusion.build import one_time_steps
from joulebench.workloads.diffusion.pipeline_point import predict_full, stored_step_docs
from joulebench.workloads.diffusion.point import VideoPoint

pytest.importorskip("diffusers")

#: tiny model, and denoiser forwards per step with guidance on (sequential: 2, batched or embedded: 1)
TINY = {"tiny-wan": 2, "tiny-cogvideox": 1, "tiny-ltx": 1, "tiny-mochi": 1, "tiny-hunyuanvideo": 1,
        "tiny-animatediff": 1}


def _defaults(model: str) -> dict:
    spec = load_spec(model)
    return {k: spec.default(k) for k in ("height", "width", "frames")}


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Every tiny family, 3 steps sampled of 6, one store (module-scoped: the pipelines run once)."""
    points = [VideoPoint(model=m, **_defaults(m), steps=6, device="cpu", mode="pipeline", sample_steps=3)
              for m in TINY]
    points.append(VideoPoint(model="tiny-wan", **_defaults("tiny-wan"), steps=3, cfg=False, device="cpu",
                             mode="pipeline"))
    db = tmp_path_factory.mktemp("pipe") / "v.db"
    plan = VideoPlan(tuple(points), "test")
    return db, run_video_plan(plan, db, "test", idle_s=0.1)


def test_every_family_runs_its_real_pipeline(measured) -> None:
    _, points = measured
    assert [p.get("error") for p in points] == [None] * len(points)
    classes = {p["config"]["model"]: p for p in points if p["config"]["cfg"]}
    for model, per_step in TINY.items():
        doc = classes[model]
        assert doc["steps"]["n"] == 3
        assert doc["forwards_per_step"] == per_step, model
        assert doc["dit_step"]["flops_counted"] > 0
        assert doc["offload"] == "none" and all("offload hook" not in v for v in doc["placement"].values())


def test_windows_add_up_to_the_call(measured) -> None:
    _, points = measured
    for p in points:
        parts = p["parts"]
        total = (parts["text_encode"]["latency_s"] + parts["prepare"]["latency_s"]
                 + parts["denoiser_forwards"]["latency_s"] + parts["step_rest"]["latency_s"]
                 + parts["vae_decode"]["latency_s"] + parts["postprocess"]["latency_s"])
        assert total == pytest.approx(p["call"]["latency_s"], rel=1e-9)
        for comp, energy in p["call"]["energy_j"].items():
            summed = sum(part["energy_j"].get(comp, 0.0) for part in parts.values())
            assert summed == pytest.approx(energy, rel=1e-6, abs=1e-9)
        assert parts["vae_decode"]["spans"] >= 1 and parts["text_encode"]["latency_s"] > 0


def test_sampled_points_predict_the_full_run_with_an_interval(measured) -> None:
    _, points = measured
    sampled = [p for p in points if p["config"]["sample_steps"] == 3]
    for p in sampled:
        pred = p["request_predicted"]
        assert pred["steps"] == 6 and pred["from_steps"] == 3
        fixed = p["call"]["latency_s"] - sum(p["steps"]["latency_s"])
        assert pred["latency_s"] == pytest.approx(fixed + 6 * p["steps"]["mean_latency_s"], rel=1e-9)
        assert pred["latency_ci95_s"] > 0 and "request" not in p
    full = [p for p in points if p["config"]["sample_steps"] is None]
    assert len(full) == 1 and full[0]["request"]["measured"] and full[0]["forwards_per_step"] == 1


def test_stored_rows_records_and_resume(measured) -> None:
    db, points = measured
    with Store(db) as store:
        stored = list(store.points(kind="video"))
        rows = store.measurements(stored[0].id)
        assert {"call", "step", "vae_decode", "text_encode"} <= {r["phase"] for r in rows}
        assert len([r for r in rows if r["phase"] == "step" and r["component"] == "time"]) == 3
    again = run_video_plan(VideoPlan(tuple(VideoPoint.from_config(p["config"]) for p in points), "again"), db,
                           "test", idle_s=0.1)
    assert [p["point_id"] for p in again] == [p["point_id"] for p in points]


def test_prediction_arithmetic() -> None:
    steps = [{"latency_s": t, "energy_j": {"gpu": 100 * t}} for t in (1.0, 1.2, 0.8)]
    call = {"latency_s": 10.0, "energy_j": {"gpu": 1000.0}}
    pred = predict_full(call, steps, 50)
    assert pred["latency_s"] == pytest.approx(7.0 + 50 * 1.0)
    assert pred["energy_j"]["gpu"] == pytest.approx(700.0 + 50 * 100.0)
    t = 4.302652729911275  # Student t, 2 degrees of freedom, 95%
    assert pred["latency_ci95_s"] == pytest.approx(t * 50 * 0.2 / math.sqrt(3), rel=1e-6)


def test_a_one_time_first_step_is_counted_once_not_fifty_times() -> None:
    """Model offload: the first step also moves the denoiser in (the H200's 14.1 s against 4.9 s)."""
    steps = [{"latency_s": t, "energy_j": {"gpu": 100 * t}} for t in (14.1, 4.9, 4.97)]
    call = {"latency_s": 34.5, "energy_j": {"gpu": 3450.0}}
    naive, once = predict_full(call, steps, 50), predict_full(call, steps, 50, once=1)
    assert once["latency_s"] == pytest.approx(34.5 - 9.87 + 50 * 4.935)
    assert once["energy_j"]["gpu"] == pytest.approx(3450.0 - 987.0 + 50 * 493.5)
    assert once["from_steps"] == 2 and once["one_time_steps"] == 1
    assert naive["latency_s"] > once["latency_s"] + 100  # the move priced 50 times over
    assert once["latency_ci95_s"] < naive["latency_ci95_s"] / 20
    assert one_time_steps("model") == 1 and one_time_steps("sequential") == one_time_steps("none") == 0


def test_model_offload_needs_two_steps_after_the_first() -> None:
    point = VideoPoint(model="wan2.1-t2v-1.3b", height=480, width=832, frames=81, steps=50, mode="pipeline",
                       sample_steps=2, offload="model")
    with pytest.raises(UsageError, match="between 3") as err:
        point.validate()
    assert err.value.field == "sample_steps" and err.value.value == 2


def test_a_stored_point_gives_its_steps_back_in_call_order() -> None:
    summary = {"steps": {"latency_s": [14.1, 4.9], "energy_j": {"gpu": [4508.0, 3386.0], "cpu": [388.0, 135.0]}}}
    assert stored_step_docs(summary) == [{"latency_s": 14.1, "energy_j": {"gpu": 4508.0, "cpu": 388.0}},
                                         {"latency_s": 4.9, "energy_j": {"gpu": 3386.0, "cpu": 135.0}}]


@pytest.mark.parametrize(("model", "frames", "needle"), [
    ("wan2.1-t2v-1.3b", 84, "4k+1"), ("mochi-1", 84, "6k+1"), ("ltx-video", 120, "8k+1"),
    ("cogvideox-2b", 50, "4k+1"), ("animatediff-lightning", 40, "at most 32"),
])
def test_each_family_constraint_is_checked_up_front(model: str, frames: int, needle: str) -> None:
    spec = load_spec(model)
    point = VideoPoint(model=model, height=spec.default("height"), width=spec.default("width"), frames=frames)
    with pytest.raises(UsageError, match=needle.replace("+", r"\+")) as err:
        point.validate()
    assert err.value.field == "frames" and err.value.value == frames


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"sample_steps": 1}, "sample_steps"), ({"sample_steps": 9}, "sample_steps"), ({"offload": "disk"}, "offload"),
    ({"offload": "model"}, "offload"), ({"vae_dtype": "float32"}, "vae_dtype"), ({"dtype": "int4"}, "dtype"),
])
def test_pipeline_point_validation(kwargs: dict, field: str) -> None:
    """CogVideoX decodes in the transformer's dtype; offload needs CUDA; K must be within 2..steps."""
    base = {"model": "tiny-cogvideox", **_defaults("tiny-cogvideox"), "steps": 8, "device": "cpu", "mode": "pipeline"}
    with pytest.raises(UsageError) as err:
        VideoPlan((VideoPoint(**{**base, **kwargs}),))
    assert err.value.field == field


def test_family_table_is_complete() -> None:
    assert set(FAMILIES) == {"wan", "cogvideox", "ltx", "mochi", "hunyuanvideo", "animatediff"}
    assert {f.cfg for f in FAMILIES.values()} == {"sequential", "batched", "embedded"}
    for model in ("wan2.1-t2v-14b", "cogvideox-5b", "ltx-video-0.9.7-dev", "mochi-1", "hunyuanvideo",
                  "animatediff-lightning"):
        spec = load_spec(model)
        assert spec.scheduler and spec.vae and spec.text_encoder and spec.default("steps"), model


def test_model_cache_keeps_one_model_at_a_time() -> None:
    """A cross-model sweep must not hold every model it has run (Mochi-1 ran out of GPU memory behind
    four others on the H200): asking for a second model's component drops the first model's."""
    from joulebench.workloads.diffusion.build import ModelCache

    cache = ModelCache()
    wan, ltx = load_spec("tiny-wan"), load_spec("tiny-ltx")
    first = cache.get("vae", wan, "float32", "cpu", True)
    assert cache.get("vae", wan, "float32", "cpu", True) is first  # kept within a model
    cache.get("transformer", wan, "float32", "cpu", True)
    cache.warmed.add((wan.name, 8, 8, 5))
    assert cache.models() == {wan.name}
    cache.get("vae", ltx, "float32", "cpu", True)
    assert cache.models() == {ltx.name}
    assert cache.warmed == set()
    assert cache.get("vae", wan, "float32", "cpu", True) is not first  # built again when asked again
