"""Analytic FLOPs vs torch FlopCounterMode, per case; writes docs/validation/analytic/flop_agreement.*.

FlopCounterMode counts matmul-like ops only (mm/addmm/bmm, SDPA, convolutions); the analytic side
is therefore the sum of its ``counted`` ops. LLM configs keep their real widths and are shrunk to
2 layers (exact: FLOPs are additive over identical layers; Gemma keeps one sliding and one global
layer); DiTs run at a small latent with 2 layers; the Wan VAE decodes a 3x4x6 latent.

Run: ``python benchmarks/flop_agreement.py`` (CPU, meta device, about 30 s); ``--llm-only`` runs the LLM
families alone (qwen3_moe, olmo2 and DeepSeek MLA included) and writes ``flop_agreement_llm.*``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from joulebench.analytic import flopcheck
from joulebench.analytic.llm import arch_from_config
from joulebench.analytic.ops import counted_flops
from joulebench.analytic.precision import precision_for
from joulebench.analytic.predict import decode_step_ops, prefill_ops
from joulebench.analytic.video import (
    Latent,
    cogvideox_dit_ops,
    t5_encoder_ops,
    wan_dit_ops,
    wan_vae_decoder_ops,
)
from joulebench.models.configs import resolve

OUT = Path(__file__).resolve().parents[1] / "docs" / "validation" / "analytic"
BF16 = precision_for("bf16")
LLMS = [
    "llama-3.1-8b",
    "qwen2.5-0.5b",
    "qwen2.5-7b",
    "mistral-7b-v0.3",
    "mixtral-8x7b",
    "gemma-2-9b",
    "gemma-3-1b",
    "phi-3-mini-4k",
    "qwen1.5-moe-a2.7b",
    "qwen3-30b-a3b",
    "olmo-2-1124-7b",
    "deepseek-v2-lite",
    "deepseek-v3",
]


def llm_cases() -> list[dict]:
    rows = []
    for model in LLMS:
        cfg = flopcheck.shrink_llm_config(resolve(model).config, 2)
        arch = arch_from_config(cfg, model)
        for s, b in ((12, 2), (64, 1)):
            ref = flopcheck.count_llm_flops(cfg, s, b)
            pre = float(counted_flops(prefill_ops(arch, BF16, float(s), float(b))))
            dec = float(counted_flops(decode_step_ops(arch, BF16, float(s + 1), float(b))))
            rows.append(_row(model, f"prefill s={s} b={b}, 2 layers", pre, ref["prefill"]))
            rows.append(_row(model, f"decode step cache={s} b={b}, 2 layers", dec, ref["decode_step"]))
    return rows


def video_cases() -> list[dict]:
    rows = []
    for model, builder in (
        ("wan2.1-t2v-1.3b", wan_dit_ops),
        ("wan2.1-t2v-14b", wan_dit_ops),
        ("cogvideox-2b", cogvideox_dit_ops),
        ("cogvideox-5b", cogvideox_dit_ops),
    ):
        t = dict(resolve(model, "video").config["transformer"], num_layers=2)
        f, h, w = 3, 8, 12
        text = t.get("max_text_seq_length", 24)
        ref = flopcheck.count_dit_flops(t, f, h, w, text, 4096)
        ours = float(counted_flops(builder(t, Latent(f, h, w, 16, f * (h // 2) * (w // 2)), text, BF16)))
        rows.append(_row(model, f"DiT forward latent {f}x{h}x{w}, text {text}, 2 layers", ours, ref))
    wan = resolve("wan2.1-t2v-1.3b", "video").config
    ref = flopcheck.count_wan_vae_decode_flops(wan["vae"], 3, 4, 6)
    ours = float(counted_flops(wan_vae_decoder_ops(wan["vae"], Latent(3, 4, 6, 16, 0), BF16)))
    rows.append(_row("wan2.1 vae", "decode latent 3x4x6 (frame-by-frame causal)", ours, ref))
    for model in ("wan2.1-t2v-1.3b", "cogvideox-2b"):
        te = resolve(model, "video").config["text_encoder"]
        ref = flopcheck.count_t5_encoder_flops(te, 32, n_layers=2)
        ours = float(counted_flops(t5_encoder_ops(dict(te, num_layers=2), 32, BF16)))
        rows.append(_row(f"{model} text encoder ({te['model_type']})", "32 tokens, 2 layers", ours, ref))
    return rows


def _row(model: str, case: str, analytic: float, reference: int) -> dict:
    return {
        "model": model,
        "case": case,
        "analytic_flops": analytic,
        "flop_counter_flops": reference,
        "relative_error": (analytic - reference) / reference,
    }


def main() -> None:
    import sys

    import torch
    import transformers

    llm_only = "--llm-only" in sys.argv[1:]
    stem = "flop_agreement_llm" if llm_only else "flop_agreement"
    start = time.perf_counter()
    rows = llm_cases() + ([] if llm_only else video_cases())
    meta = {
        "what": "analytic counted FLOPs vs torch.utils.flop_counter.FlopCounterMode on meta-device models",
        "counts": (
            "matmul-like ops only (mm, addmm, bmm, SDPA, conv); elementwise FLOPs excluded on both sides"
        ),
        "attention_flops_convention": "dense",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "seconds": round(time.perf_counter() - start, 1),
        "max_abs_relative_error": max(abs(r["relative_error"]) for r in rows),
    }
    try:
        import diffusers

        meta["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{stem}.json").write_text(json.dumps({"meta": meta, "cases": rows}, indent=2) + "\n")
    lines = ["| model | case | analytic FLOPs | FlopCounterMode | rel. error |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['case']} | {r['analytic_flops']:.6g} | {r['flop_counter_flops']:.6g} "
            f"| {r['relative_error']:+.2e} |"
        )
    (OUT / f"{stem}.md").write_text(
        "# FLOP agreement with FlopCounterMode\n\n"
        f"Generated by `python benchmarks/flop_agreement.py{' --llm-only' if llm_only else ''}` "
        f"(torch {meta['torch']}, transformers "
        f"{meta['transformers']}, diffusers {meta.get('diffusers', '-')}). "
        "FlopCounterMode counts matmul-like ops only; the analytic side sums its ops flagged "
        "`counted`. Attention counted dense.\n\n"
        + "\n".join(lines)
        + "\n"
    )
    print("\n".join(lines))
    print(f"max |relative error| = {meta['max_abs_relative_error']:.2e} over {len(rows)} cases")


if __name__ == "__main__":
    main()
