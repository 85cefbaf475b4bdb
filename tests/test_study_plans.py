"""Study plans: designs drawn from the population, distinct resume keys, batches with explicit row lengths
(left padding, bucketing), validation before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

from joulebench.data.prompt_set import PromptSample, PromptSet
from joulebench.data.prompts import open_prompts
from joulebench.errors import UsageError
from joulebench.experiments.llm_plan import protocol_overrides
from joulebench.experiments.studies.llm import BatchPlan, GridStudyPlan, ThankYouPlan
from joulebench.values import LLMPoint, key_of
from joulebench.workloads.llm import stability_settings
from joulebench.workloads.llm_inputs import synthetic_inputs


def _thank_you(n: int = 200, **kw: object) -> ThankYouPlan:
    prompts = open_prompts("synthetic", n, 0, "tiny-llama")
    return ThankYouPlan(prompts, model="tiny-llama", dtype="fp32", device="cpu", **kw)  # type: ignore[arg-type]


def test_thank_you_design_spans_the_population_and_checks_are_their_own_points() -> None:
    plan = _thank_you()
    s, g = plan.prompts.prompts, plan.prompts.replies
    design = plan.design_points()
    assert len(design) == 9
    assert {p.prompt_tokens for p in design} == {int(round(q)) for q in np.quantile(s, (0.05, 0.5, 0.95))}
    assert all(g.min() <= p.output_tokens <= g.max() for p in design)
    assert all(p.batch == 1 and p.model == "tiny-llama" and p.dtype == "fp32" for p in design)
    checks = [p for b in range(3) for p in plan.check_points(b)]
    assert len(checks) == 12
    keys = {key_of(p) for p in design + checks}
    assert len(keys) == 21  # a checked request never collides with a grid point or another request
    chosen = [i for b in range(3) for i in plan.check_indices(b)]
    assert len(set(chosen)) == 12
    assert [(p.prompt_tokens, p.output_tokens) for p in checks] == [
        (plan.prompts.samples[i].prompt_tokens, plan.prompts.samples[i].reply_tokens) for i in chosen]
    assert [key_of(p) for p in _thank_you().check_points(1)] == [key_of(p) for p in plan.check_points(1)]  # resume


def test_plans_validate_before_anything_runs() -> None:
    with pytest.raises(UsageError) as info:
        _thank_you(target_ci=0.0)
    assert info.value.field == "target_ci"
    with pytest.raises(UsageError) as info:
        _thank_you(max_check=1)
    assert info.value.field == "max_check"
    long = PromptSet("x", (PromptSample(0, 9000, 10),), "recorded", "recorded")
    with pytest.raises(UsageError) as info:
        ThankYouPlan(long, model="tiny-llama", dtype="fp32", device="cpu")
    assert "max_position_embeddings" in str(info.value)  # tiny-llama's context is 8192
    with pytest.raises(UsageError):
        GridStudyPlan("precision", ["tiny-llama"], ["torchao-int8"], ["eager"], "cpu")
    with pytest.raises(UsageError) as info:
        protocol_overrides(0.0)
    assert info.value.field == "min_window_s"


def test_grid_study_points_per_configuration_and_request() -> None:
    plan = GridStudyPlan("precision", ["tiny-llama"], ["float32", "bf16"], ["eager"], "cpu",
                         lengths=((100, 8), (300, 20)), protocol_overrides=protocol_overrides(0.1))
    points = plan.points()
    assert [(p.dtype, p.prompt_tokens, p.output_tokens) for p in points] == [
        ("fp32", 100, 8), ("fp32", 300, 20), ("bf16", 100, 8), ("bf16", 300, 20)]
    assert points[0].protocol_overrides["prefill"]["min_window_s"] == 0.1
    assert plan.to_dict()["dtypes"] == ["fp32", "bf16"]
    capped = GridStudyPlan("precision", ["tiny-llama"], ["fp32"], ["eager"], "cpu", lengths=((100, 8),),
                           protocol_overrides=protocol_overrides(None, 30)).points()[0]
    assert stability_settings(capped)["budget_s"] == 30.0 and "prefill" not in capped.protocol_overrides
    assert stability_settings(points[0])["budget_s"] == 5.0  # the CPU default when no cap is given
    uncapped = GridStudyPlan("precision", ["tiny-llama"], ["fp32"], ["eager"], "cpu", lengths=((100, 8),)).points()[0]
    assert key_of(capped) != key_of(uncapped)  # a cap is part of what was measured: no resume across caps


def test_batch_plan_rows_padding_and_bucketing() -> None:
    prompts = open_prompts("synthetic", 64, 3, "tiny-llama")
    plan = BatchPlan(prompts, [1, 4, 16], model="tiny-llama", dtype="fp32", device="cpu", output_tokens=8, draws=2)
    points = plan.points()
    assert len(points) == 2 * 3 * 2
    lengths = prompts.prompts
    order = list(np.argsort(lengths, kind="stable"))
    for mode in ("off", "on"):
        for batch in (4, 16):
            for draw in range(2):
                rows = plan.rows(mode, batch, draw)
                assert len(set(rows)) == batch
                if mode == "on":  # one group of consecutive lengths in sorted order
                    start = order.index(rows[0])
                    assert rows == [int(i) for i in order[start:start + batch]]
    assert plan.rows("on", 1, 0) == plan.rows("off", 1, 0)  # both curves start from the same request
    on = [p for p in points[6:] if p.batch == 16]
    off = [p for p in points[:6] if p.batch == 16]
    padding = [sum(p.prompt_tokens - n for n in p.prompt_lengths) for p in (*off, *on)]
    assert max(padding[2:]) < min(padding[:2])  # bucketing pads less than random batches of 16
    for p in points:
        assert p.prompt_tokens == max(p.prompt_lengths or (p.prompt_tokens,))
        assert len(p.prompt_lengths) == (p.batch if p.batch > 1 else 0)
    with pytest.raises(UsageError) as info:
        BatchPlan(prompts, [128], model="tiny-llama", dtype="fp32", device="cpu")
    assert info.value.field == "batch" and "--requests" in str(info.value)


def test_explicit_row_lengths_reach_the_inputs_and_the_stored_point() -> None:
    inputs = synthetic_inputs(384, "cpu", 40, 3, 0.0, 0, (40, 7, 25))
    assert inputs.attention_mask.sum(dim=-1).tolist() == [40, 7, 25]
    assert inputs.attention_mask[1, :33].sum() == 0  # left padding
    assert (inputs.effective_tokens, inputs.computed_tokens) == (72, 120)
    point = LLMPoint("tiny-llama", "fp32", "cpu", 3, 40, 8, prompt_lengths=(40, 7, 25))
    assert LLMPoint.from_dict(point.to_dict()) == point
    plain = LLMPoint("tiny-llama", "fp32", "cpu", 1, 40, 8)
    assert "prompt_lengths" not in plain.to_dict()  # points stored before keep their keys
    assert key_of(plain) != key_of(point)
