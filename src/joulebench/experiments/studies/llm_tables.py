"""The tables of case studies I and II, from measured point summaries, beside the study's figures.

Per-token figures divide a phase's energy by the tokens it worked on: prefill by the prompt tokens
(*effective*: real ones; *computed*: the padded batch), decode by the tokens it produced after the first
(``g - 1`` per sequence), a whole request ("generate") by its input tokens as the study did. Where a
component is a labelled estimate (CPU and RAM without RAPL) its column says so; the primary component
of per-token figures is the GPU where there is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from joulebench.experiments.studies.llm_estimate import FORMS, TOTAL, Estimate
from joulebench.experiments.studies.tables import StudyTable, component_label, llm_reference, table
from joulebench.units import j_to_wh

Summary = Mapping[str, Any]

#: the study's names of its fit coefficients (seed figures), by phase, quantity and our column names
STUDY_COEFFICIENTS: dict[tuple[str, str], dict[str, str]] = {
    ("prefill", "latency"): {"s": "alpha_s_per_token", "s2": "beta_s_per_token2", "1": "gamma_s"},
    ("decode", "latency"): {"g": "eta_s_per_token", "sg": "theta_s_per_token2", "g2": "phi_s_per_token2", "1": "rho_s"},
    ("prefill", "energy"): {"s": "A_Wh_per_token", "1": "B_Wh"},
    ("decode", "energy"): {"g": "C_Wh_per_token", "sg": "D_Wh_per_token2", "1": "E0_Wh"},
}


def primary_component(summary: Summary) -> str:
    energy = (summary.get("request") or summary.get("prefill") or {}).get("energy_j") or {}
    return "gpu" if "gpu" in energy else next(iter(sorted(energy)), "cpu")


def _energy(summary: Summary, phase: str, component: str) -> float | None:
    value = ((summary.get(phase) or {}).get("energy_j") or {}).get(component)
    return None if value is None else float(value)


def _decode_tokens(summary: Summary) -> int:
    tokens = summary.get("tokens") or {}
    return max(int(tokens.get("output_tokens_per_sequence") or summary["config"]["output_tokens"]) - 1, 1) * int(
        tokens.get("batch") or summary["config"]["batch"])


def _per(value: float | None, count: float) -> float | None:
    return None if value is None or not count else value / count


def flag_note(docs: Sequence[Summary | None]) -> str:
    """What the points' own checks found (inconsistent, unstable, below its physical floor), counted: a
    table built on flagged points says so."""
    counts: dict[str, int] = {}
    for doc in docs:
        for flag in (doc or {}).get("flags") or []:
            counts[flag] = counts.get(flag, 0) + 1
    if not counts:
        return "no measured point was flagged by its own checks"
    return "flags of the measured points: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


# -- case I: thank-you --------------------------------------------------------------------------------
def thank_you_tables(est: Estimate, stop: str, population: Mapping[str, Any],
                     docs: Sequence[Summary] = ()) -> list[StudyTable]:
    ref = llm_reference()["thank_you"]
    comps = [c for c in ("gpu", "cpu", "ram", TOTAL) if f"request/{c}" in est.figures]
    rows = []
    for c in comps:
        fig = est.figures[f"request/{c}"]
        rows.append((component_label(c, est.estimated.get(c, False)), j_to_wh(est.figures[f"prefill/{c}"].mean),
                     j_to_wh(est.figures[f"decode/{c}"].mean), j_to_wh(fig.mean), j_to_wh(fig.half_width),
                     fig.relative, j_to_wh(fig.spread), ref["energy_per_reply_Wh"].get(c),
                     ref["energy_per_reply_std_Wh"].get(c)))
    per_reply = table("per_reply", "Wh per reply (population mean, 95% CI from the check sample)",
                      ["component", "prefill Wh", "decode Wh", "reply Wh", "+-95% Wh", "+-95% rel", "spread Wh",
                       "study Wh", "study std Wh"], rows,
                      [f"{est.population} requests: prompts {population['prompt_lengths']}; replies "
                       f"{population['reply_lengths']}", "spread = standard deviation of the predicted reply across "
                       "the population (the study's std is over its measured replies)"])
    main = est.primary
    power = []
    for phase in ("prefill", "decode"):
        t, e = est.figures[f"{phase}/latency"].mean, est.figures[f"{phase}/{main}"].mean
        power.append((phase, e / t if t > 0 else None, ref["avg_power_W"][phase] if main == "gpu" else None))
    powers = table("avg_power", f"Average {main} power per phase (mean energy / mean latency)",
                   ["phase", "W", "study W"], power)
    return [per_reply, powers, _fit_table(est, main), _protocol_table(est, stop)]


def _fit_table(est: Estimate, main: str) -> StudyTable:
    ref = llm_reference()["thank_you"]
    rows = []
    for (phase, kind), names in STUDY_COEFFICIENTS.items():
        fit = est.fits.get(f"{phase}/{'latency' if kind == 'latency' else main}")
        if fit is None:
            continue
        study = (ref["latency_fit"] if kind == "latency" else ref["energy_fit"])[phase]
        scale = 1.0 if kind == "latency" else j_to_wh(1.0)
        for i, (term, _) in enumerate(FORMS[(phase, kind)]):
            rows.append((f"{phase} {'t' if kind == 'latency' else 'E ' + main}", names[term], fit.coef[i] * scale,
                         fit.stderr[i] * scale, study.get(names[term]) if main == "gpu" or kind == "latency" else None))
    forms = [f"{phase} {kind}: {ref[f'{kind}_fit'][phase]['form']}" for phase in ("prefill", "decode")
             for kind in ("latency", "energy")]
    return table("fits", "Length models fitted on the designed grid (study's forms and units: s, Wh, tokens)",
                 ["model", "coefficient", "ours", "+-1 se", "study"], rows, forms)


def _protocol_table(est: Estimate, stop: str) -> StudyTable:
    ref = llm_reference()["thank_you"]["protocol"]
    fig = est.figures[f"request/{est.primary}"]
    rows = [("requests in the population", est.population), ("designed points measured", est.n_design),
            ("check points measured", est.n_check), (f"achieved +-95% on {est.primary} Wh per reply", fig.relative),
            ("mean |error| of the fit on the check sample", fig.check_error),
            ("protocol GPU time (s, model loads excluded)", est.measure_s), ("wall time of the points (s)", est.wall_s),
            (f"study protocol on this population (s): {ref['warmups']} warm-ups + {ref['full_runs']} full + "
             f"{ref['prefill_runs']} prefill runs per prompt, predicted", est.study_protocol_s),
            ("GPU time / study protocol", est.time_ratio), ("stopped because", stop)]
    return table("protocol", "Protocol efficiency", ["what", "value"], rows)


# -- sizes and precision ----------------------------------------------------------------------------
def _study_reply_wh(config: Mapping[str, Any]) -> tuple[float, float] | None:
    """The study's fitted GPU prefill and decode Wh for Llama-3.1-8B fp32 at this point's lengths."""
    if config.get("model") != "llama-3.1-8b" or config.get("dtype") != "fp32" or config.get("batch", 1) != 1:
        return None
    fit = llm_reference()["thank_you"]["energy_fit"]
    s, g = float(config["prompt_tokens"]), float(config["output_tokens"])
    prefill = fit["prefill"]["A_Wh_per_token"] * s + fit["prefill"]["B_Wh"]
    decode = fit["decode"]["C_Wh_per_token"] * g + fit["decode"]["D_Wh_per_token2"] * s * g + fit["decode"]["E0_Wh"]
    return prefill, decode


def _params_b(model: str) -> float | None:
    try:
        from joulebench.analytic import llm_arch

        return llm_arch(model).n_params() / 1e9
    except Exception:  # noqa: BLE001 - an architecture the predictor does not know: no parameter count
        return None


def _groups(summaries: Sequence[Summary | None]) -> dict[tuple[str, str, str], list[Summary]]:
    """Points by configuration (model, dtype, engine), in the order first met."""
    out: dict[tuple[str, str, str], list[Summary]] = {}
    for doc in summaries:
        if doc is not None:
            cfg = doc["config"]
            out.setdefault((cfg["model"], cfg["dtype"], cfg.get("engine", "eager")), []).append(doc)
    return out


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _phase_figures(docs: Sequence[Summary]) -> dict[str, float | None]:
    """Means over a configuration's requests: latencies, primary energies, per-token figures, Wh."""
    c = primary_component(docs[0])
    return {
        "s": _mean([float(d["config"]["prompt_tokens"] or 0) for d in docs]),
        "g": _mean([float(d["config"]["output_tokens"]) for d in docs]),
        "prefill_ms": _mean([d["prefill"]["latency_s"] * 1e3 for d in docs]),
        "prefill_j": _mean([_energy(d, "prefill", c) for d in docs]),
        "prefill_j_tok": _mean([_per(_energy(d, "prefill", c), float(d["config"]["prompt_tokens"] or 0)) for d in docs]),
        "decode_ms_tok": _mean([_per(d["decode"]["latency_s"] * 1e3, _decode_tokens(d)) for d in docs]),
        "decode_j_tok": _mean([_per(_energy(d, "decode", c), _decode_tokens(d)) for d in docs]),
        "reply_wh": _mean([j_to_wh(_energy(d, "request", c) or 0.0) for d in docs]),
        "all_wh": _mean([j_to_wh(sum(((d.get("request") or {}).get("energy_j") or {}).values())) for d in docs]),
    }


def _flags(docs: Sequence[Summary]) -> str:
    flags = sorted({f for d in docs for f in (d.get("flags") or [])})
    return ", ".join(flags)


def sizes_tables(summaries: Sequence[Summary | None], failed: Sequence[str]) -> list[StudyTable]:
    rows = []
    for (model, dtype, _engine), docs in _groups(summaries).items():
        fig = _phase_figures(docs)
        studies = [_study_reply_wh(d["config"]) for d in docs]
        study = _mean([None if x is None else x[0] + x[1] for x in studies])
        rows.append((model, _params_b(model), dtype, len(docs), fig["s"], fig["g"], fig["prefill_ms"], fig["prefill_j"],
                     fig["prefill_j_tok"], fig["decode_ms_tok"], fig["decode_j_tok"], fig["reply_wh"], fig["all_wh"],
                     study, _flags(docs)))
    comp = primary_component(next((d for d in summaries if d), {}))
    notes = [f"energies of {comp}, means over each configuration's requests; 'all Wh' sums every metered component",
             "study Wh: the study's GPU energy fits (Llama-3.1-8B fp32, H100) at the same lengths; "
             + str(llm_reference()["sizes"]["note"])] + [f"failed: {f}" for f in failed]
    return [table("sizes", "Prefill and decode energy per model size",
                  ["model", "params B", "dtype", "requests", "s", "g", "prefill ms", "prefill J", "prefill J/tok",
                   "decode ms/tok", "decode J/tok", "reply Wh", "all Wh", "study Wh", "flags"], rows, notes)]


def precision_tables(summaries: Sequence[Summary | None], failed: Sequence[str]) -> list[StudyTable]:
    from joulebench.hardware import dtypes

    groups = _groups(summaries)
    figures = {key: _phase_figures(docs) for key, docs in groups.items()}
    rows = []
    for (model, dtype, engine), docs in groups.items():
        fig, base = figures[(model, dtype, engine)], figures.get((model, "fp32", engine))
        quant = docs[0].get("quantization") or {}
        params = _params_b(model)
        pre, dec = fig["prefill_j"], fig["decode_j_tok"]
        rows.append((model, dtype, engine, f"{quant['library']} {quant['version']}" if quant else "torch",
                     None if params is None else params * dtypes.get(dtype).weight_bytes, len(docs), fig["prefill_ms"],
                     pre, fig["decode_ms_tok"], dec,
                     None if not pre or base is None or base["prefill_j"] is None else base["prefill_j"] / pre,
                     None if dec is None or base is None or not base["decode_j_tok"] else dec / base["decode_j_tok"],
                     _flags(docs)))
    claims = llm_reference()["precision"]["claims"]
    int8 = claims["decode_energy_per_token_int8_vs_fp32_x"]
    down = claims["prefill_fp32_to_low_precision_energy_reduction_x"]
    notes = [f"study: prefill energy fp32 -> low precision down {down}x;"
             f" decode energy per token bf16/fp16 vs fp32 {claims['decode_energy_per_token_fp32_vs_bf16_fp16']}; int8 "
             f"(LLM.int8) {int8[0]}-{int8[1]}x fp32; int4 (NF4) {claims['decode_energy_per_token_int4_vs_fp32']} fp32",
             "weights GB: parameters at the dtype's bytes per weight, scales included (the LM head, kept in the float "
             "dtype, counted the same)"] + [f"failed: {f}" for f in failed]
    return [table("precision", "Prefill and decode per precision and engine",
                  ["model", "dtype", "engine", "library", "weights GB", "requests", "prefill ms", "prefill J",
                   "decode ms/tok", "decode J/tok", "prefill fp32/x", "decode x/fp32", "flags"], rows, notes)]


# -- batching ---------------------------------------------------------------------------------------
def batch_tables(summaries: Sequence[Summary | None], modes: Sequence[str], failed: Sequence[str]) -> list[StudyTable]:
    groups: dict[tuple[str, int], list[Summary]] = {}
    for doc, mode in zip(summaries, modes, strict=True):
        if doc is not None:
            groups.setdefault((mode, int(doc["config"]["batch"])), []).append(doc)
    rows, curves = [], {}
    for (mode, batch), docs in sorted(groups.items()):
        c = primary_component(docs[0])

        def mean(key: str, docs: list[Summary] = docs, c: str = c) -> float | None:
            vals = [v for v in (_metric(d, key, c) for d in docs) if v is not None]
            return sum(vals) / len(vals) if vals else None

        eff, comp = mean("eff"), mean("comp")
        row = (mode, batch, len(docs), eff, comp, None if not comp else 1.0 - (eff or 0.0) / comp,
               mean("prefill/eff"), mean("prefill/comp"), mean("decode/out"), mean("decode/eff"),
               mean("request/eff"), mean("request/comp"))
        rows.append(row)
        curves.setdefault(mode, []).append(row)
    notes = _batch_claims(curves) + [flag_note(summaries)] + [f"failed: {f}" for f in failed]
    columns = ["bucketing", "batch", "draws", "prompt tok eff", "prompt tok comp", "padding", "prefill J/eff tok",
               "prefill J/comp tok", "decode J/out tok", "decode J/eff in tok", "generate J/eff in tok",
               "generate J/comp in tok"]
    return [table("batch", "Energy per effective and computed token by batch size (static batches, left padding)",
                  columns, rows, notes)]


def _metric(doc: Summary, key: str, component: str) -> float | None:
    tokens = doc.get("tokens") or {}
    eff, comp = float(tokens.get("prompt_tokens_effective") or 0), float(tokens.get("prompt_tokens_computed") or 0)
    if key == "eff":
        return eff
    if key == "comp":
        return comp
    phase, per = key.split("/")
    count = {"eff": eff, "comp": comp, "out": float(_decode_tokens(doc))}[per]
    return _per(_energy(doc, phase, component), count)


def _batch_claims(curves: Mapping[str, list[tuple[Any, ...]]]) -> list[str]:
    claims = llm_reference()["batch"]["claims"]
    notes = [f"study: decode energy per effective input token lowest at batch "
             f"{claims['batch_decode_optimum_per_effective_input_token']}, generate at batch "
             f"{claims['batch_generate_optimum_per_effective_input_token']}; batch 16 "
             f"+{claims['batch16_vs_optimum_energy_per_effective_input_token_increase']:.0%} over the optimum; generate "
             f"per computed input token at large batch "
             f"{claims['generate_energy_per_computed_input_token_at_large_batch_vs_b1']}x batch 1"]
    for mode, rows in curves.items():
        for column, label in ((9, "decode J/eff in tok"), (10, "generate J/eff in tok")):
            valid = [r for r in rows if r[column] is not None]
            if valid:
                best = min(valid, key=lambda r: r[column])
                notes.append(f"ours (bucketing {mode}): {label} lowest at batch {best[1]}")
        first = next((r for r in rows if r[1] == 1 and r[11]), None)
        last = max(rows, key=lambda r: r[1])
        if first is not None and last[11] is not None and last[1] > 1:
            notes.append(f"ours (bucketing {mode}): generate per computed input token at batch {last[1]} = "
                         f"{last[11] / first[11]:.2f}x batch 1")
    return notes
