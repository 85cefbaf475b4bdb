"""Quantized loads on the tiny model with the real libraries (their CPU kernels), the settings recorded
with the library versions, and the refusals a plan makes before any work."""

from __future__ import annotations

import sys

import pytest

from joulebench.errors import UsageError
from joulebench.experiments.llm_plan import LLMPlan
from joulebench.hardware import dtypes
from joulebench.workloads.llm_model import load_model
from joulebench.workloads.quantization import INT4_PACKING, KEEP_FLOAT, check_loadable, quantize


def _load(name: str) -> tuple[object, dict]:
    """The tiny float model, then its linears quantized as ``name`` says (what `load_model` does, short of
    the eval() after it: bitsandbytes' CPU NF4 kernel then repacks weights the tiny shapes cannot take)."""
    d = dtypes.get(name)
    base = load_model("tiny-llama", dtypes.canonical(d.torch_name), "cpu")
    return base.model, quantize(base.model, d, "cpu")


def _generate(model: object) -> object:
    import torch

    ids = torch.randint(0, 250, (2, 12))
    with torch.no_grad():
        return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, min_new_tokens=4,
                              do_sample=False, pad_token_id=0)


@pytest.mark.parametrize("name", ["bnb-int8", "bnb-nf4"])
def test_bitsandbytes_linears_are_quantized_and_recorded(name: str) -> None:
    bnb = pytest.importorskip("bitsandbytes")
    import torch

    model, record = _load(name)
    proj = model.model.layers[0].mlp.up_proj
    expected = bnb.nn.Linear8bitLt if name == "bnb-int8" else bnb.nn.Linear4bit
    assert isinstance(proj, expected)
    assert proj.weight.dtype == (torch.int8 if name == "bnb-int8" else torch.uint8)
    assert type(model.lm_head) is torch.nn.Linear  # kept in the float dtype
    assert record["library"] == "bitsandbytes" and record["version"] == bnb.__version__
    assert record["config"]["quantized_linears"] == 14  # 2 layers x (4 attention + 3 MLP)
    assert record["config"]["kept_float"] == list(KEEP_FLOAT)
    assert record["float_dtype"] == dtypes.get(name).torch_name
    if name == "bnb-nf4":
        assert record["config"]["blocksize"] == 64 and proj.weight.quant_state.blocksize == 64
    out = _generate(model)
    assert tuple(out.shape) == (2, 16)


def test_torchao_int8_weight_only_on_the_tiny_model() -> None:
    torchao = pytest.importorskip("torchao")
    import torch

    model, record = _load("torchao-int8")
    weight = model.model.layers[1].self_attn.q_proj.weight
    assert isinstance(weight, torchao.utils.TorchAOBaseTensor) and weight.qdata.dtype == torch.int8
    assert record["library"] == "torchao" and record["version"] == torchao.__version__
    assert record["config"]["method"] == "Int8WeightOnlyConfig"
    assert type(model.lm_head.weight) is torch.nn.Parameter  # kept in the float dtype
    assert tuple(_generate(model).shape) == (2, 16)
    loaded = load_model("tiny-llama", "torchao-int8", "cpu")  # the one loader of every point, end to end
    assert loaded.dtype == "torchao-int8" and loaded.quantization["config"] == record["config"]
    assert tuple(_generate(loaded.model).shape) == (2, 16)


def test_torchao_int4_packing_needs_no_extra_cuda_package() -> None:
    pytest.importorskip("torchao")
    from joulebench.workloads.quantization import _torchao_config

    config = _torchao_config(dtypes.get("torchao-int4"))
    # tile_packed_to_4d runs PyTorch's own tinygemm kernel; "plain" would need the mslk/fbgemm package
    assert str(getattr(config.int4_packing_format, "value", config.int4_packing_format)) == INT4_PACKING
    assert config.group_size == 128 == dtypes.get("torchao-int4").group_size
    fp8 = _torchao_config(dtypes.get("torchao-fp8"))
    assert type(fp8).__name__ == "Float8DynamicActivationFloat8WeightConfig"


def test_what_the_machine_cannot_run_is_refused_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as info:
        check_loadable(dtypes.get("torchao-fp8"), "cuda", capability=(8, 0))
    assert info.value.field == "dtype" and "8.9" in str(info.value) and "8.0" in str(info.value)
    if _has("torchao"):
        check_loadable(dtypes.get("torchao-fp8"), "cuda", capability=(9, 0))  # Hopper: fine
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as on a machine without the package
    with pytest.raises(UsageError) as info:
        check_loadable(dtypes.get("bnb-int8"), "cuda")
    assert "pip install bitsandbytes" in str(info.value)
    check_loadable(dtypes.get("fp32"), "cpu")  # torch dtypes need nothing
    for name in ("bnb-nf4", "torchao-int4", "torchao-fp8"):
        with pytest.raises(UsageError) as info:
            LLMPlan(models=["tiny-llama"], dtypes=[name], prompt_tokens=[8], output_tokens=[4], batches=[1],
                    device="cpu")
        assert "CUDA only" in str(info.value)


def _has(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
