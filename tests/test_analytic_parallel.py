"""Tensor parallelism in the predictor: the shard one GPU computes, the ring all-reduces, the refusals."""

from __future__ import annotations

import json

import pytest

from joulebench.analytic import llm_arch, precision_for
from joulebench.analytic.parallel import allreduce_s, communication, shard
from joulebench.cli import main
from joulebench.errors import UsageError
from joulebench.hardware import get_accelerator

H200 = get_accelerator("h200")


def predict(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    main(["predict", "llm", "llama-3.1-70b", "--gpu", "h100-sxm", "--dtype", "bf16", "--prompt-tokens", "1200",
          "--output-tokens", "64", "--json", *extra])  # returns: exit 0
    return json.loads(capsys.readouterr().out)


def test_a_shard_holds_one_nth_of_the_split_widths() -> None:
    arch = llm_arch("llama-3.1-70b")
    half = shard(arch, 2)
    assert (half.n_heads, half.n_kv_heads, half.intermediate) == (arch.n_heads // 2, arch.n_kv_heads // 2,
                                                                   arch.intermediate // 2)
    assert shard(arch, 1) is arch
    linear, _ = arch.param_counts()
    linear_half, _ = half.param_counts()
    assert linear_half == pytest.approx(linear / 2, rel=0.01)  # the linears are split, nothing is lost
    with pytest.raises(UsageError, match="not divisible"):
        shard(arch, 3)


def test_ring_allreduce_by_hand() -> None:
    nbytes = 1200 * 8192 * 2.0  # one prefill all-reduce of Llama-70B at s=1200, bf16
    expected = 2 * 1 / 2 * nbytes / H200.interconnect_bandwidth_bytes_per_s + 2 * 1 * H200.interconnect_latency_s
    assert allreduce_s(nbytes, 2, H200) == pytest.approx(expected)
    assert allreduce_s(nbytes, 1, H200) == 0.0
    comm = communication(llm_arch("llama-3.1-70b"), precision_for("bf16"), H200, 2, 1200, 65)
    assert comm.prefill_bytes == pytest.approx(2 * 80 * nbytes)  # two all-reduces per layer, 80 layers
    assert comm.decode_bytes == pytest.approx(2 * 80 * 64 * 8192 * 2.0)
    with pytest.raises(UsageError, match="interconnect"):
        allreduce_s(nbytes, 2, get_accelerator("l4"))


def test_tp_makes_a_model_fit_and_adds_its_exchanges(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:  # 141 GB of bf16 weights on one 80 GB card
        main(["predict", "llm", "llama-3.1-70b", "--gpu", "h100-sxm", "--dtype", "bf16", "--prompt-tokens", "1200",
              "--output-tokens", "64"])
    assert refused.value.code == 2 and "does not fit" in capsys.readouterr().err
    doc = predict(capsys, "--tp", "2")
    assert doc["memory"]["fits"] is True
    group = doc["tensor_parallel"]
    per_gpu = doc["prefill"]["latency_s"] + doc["decode"]["latency_s"]
    assert group["request"]["latency_s"] == pytest.approx(per_gpu + group["communication"]["prefill_s"]
                                                          + group["communication"]["decode_s"])
    assert group["request"]["energy_j"] == pytest.approx(2 * group["request"]["energy_per_gpu_j"])
    assert group["request"]["energy_per_gpu_j"] > group["per_gpu"]["energy_j"]  # waiting while exchanging
