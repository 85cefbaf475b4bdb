#!/usr/bin/env python3
"""Print the markdown tables of docs/VALIDATION.md from the committed result files (no number is typed
by hand). Usage: python scripts/validation_tables.py [section ...] | --write (rewrite every table of
docs/VALIDATION.md in place, after its ``<!-- section -->`` marker). Sections: the keys of ``SECTIONS``, in
the order they print; issue 18's serving sections live in ``validation_tables_serving.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from validation_tables_serving import SECTIONS as SERVING_SECTIONS  # scripts/ is this script's path
from validation_tables_serving import stored_sql

V = Path(__file__).resolve().parent.parent / "docs" / "validation"
STUDY = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "seed_figures.json"


def short_window() -> None:
    print("| run | GPU polling | workload | call | reference J/call | protocol mean / max error | measuring s/point"
          " | plain 1 s window mean / max | naive single call J |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|")
    for run, polling in (("run1_thread_5ms", "thread, 5 ms"), ("run3_process_5ms", "child process, 5 ms"),
                         ("run4_process_20ms", "child process, 20 ms")):
        doc = json.loads((V / "issue2" / run / "short_window.json").read_text())
        for label, w in doc["workloads"].items():
            naive = ", ".join(f"{v:.1f}" for v in w["naive_single_call_j"])
            print(f"| {run} | {polling} | {label} | {w['call_s'] * 1e3:.1f} ms | {w['reference_j_per_call']:.3f} | "
                  f"{w['protocol']['mean_abs_error']:.2%} / {w['protocol']['max_abs_error']:.2%} | "
                  f"{w['protocol_wall_s_per_point']:.2f} | {w['plain_1s_window']['mean_abs_error']:.2%} / "
                  f"{w['plain_1s_window']['max_abs_error']:.2%} | {naive} |")


def overhead() -> None:
    print("| file | arm | median ms/token | overhead vs none (median of paired, 95% CI) | sampler thread CPU |")
    print("|---|---|---:|---:|---:|")
    for name in ("meter_overhead_run6_thread_vs_process.json", "meter_overhead_run7_periods.json",
                 "meter_overhead_h100_adaptive_probe.json"):
        doc = json.loads((V / "issue2" / name).read_text())
        for arm, e in doc["arms"].items():
            ci = e.get("paired_overhead_ci95")
            over = "-" if ci is None else f"{e['paired_overhead_median']:+.2%} ({ci[0]:+.2%} .. {ci[1]:+.2%})"
            share = e.get("sampler_thread_cpu_share")
            print(f"| {name} | {arm} | {e['median_per_token_s'] * 1e3:.2f} | {over} | "
                  f"{'-' if share is None else f'{share:.1%}'} |")
    for name in ("meter_overhead_run2_thread_5ms.json", "meter_overhead_run5_thread_5ms.json"):
        doc = json.loads((V / "issue2" / name).read_text())
        share = doc.get("sampler_cpu_share_of_one_core")
        print(f"| {name} | none / thread 5 ms | {doc['median_off_s'] * 1e3:.2f} / {doc['median_on_s'] * 1e3:.2f} | "
              f"{doc['overhead']:+.2%} (no CI: {doc['pairs']} pairs) | {'-' if share is None else f'{share:.1%}'} |")


def _study_case1() -> dict | None:
    return json.loads(STUDY.read_text())["case_I_thank_you"] if STUDY.is_file() else None


def llama8b() -> None:
    study = _study_case1()
    print("| dtype | s | g | phase | latency s | GPU J (±95% CI) | CPU J (est.) | RAM J (est.) | GPU avg W |"
          " study fit latency s | study fit GPU J |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in ("llama8b_prefill.json", "llama8b_decode.json"):
        doc = json.loads((V / "issue2" / name).read_text())
        for p in doc["points"]:
            c = p["config"]
            s, g = c["prompt_tokens"], c["output_tokens"]
            for phase in ("prefill", "decode", "request"):
                if phase not in p:
                    continue
                x = p[phase]
                e = x["energy_j"]
                t_fit = e_fit = "-"
                if study and c["dtype"] == "float32":
                    lf, ef = study["latency_fit"], study["energy_fit"]
                    if phase == "prefill":
                        t_fit = f"{lf['alpha_s_per_token'] * s + lf['beta_s_per_token2'] * s * s + lf['gamma_s']:.4f}"
                        e_fit = f"{(ef['A_Wh_per_token'] * s + ef['B_Wh']) * 3600:.1f}"
                    elif phase == "decode":
                        t = (lf["eta_s_per_token"] * g + lf["theta_s_per_token2"] * s * g
                             + lf["phi_s_per_token2"] * g * g + lf["rho_s"])
                        t_fit = f"{t:.3f}"
                        e_fit = f"{(ef['C_Wh_per_token'] * g + ef['D_Wh_per_token2'] * s * g + ef['E0_Wh']) * 3600:.0f}"
                print(f"| {c['dtype']} | {s} | {g} | {phase} | {x['latency_s']:.4f} | {e['gpu']:.1f} ± "
                      f"{x['ci95_j']['gpu']:.1f} | {e.get('cpu', 0):.1f} | {e.get('ram', 0):.1f} | "
                      f"{e['gpu'] / x['latency_s']:.0f} | {t_fit} | {e_fit} |")
            if "consistency" in p:
                cons = p["consistency"]
                print(f"| {c['dtype']} | {s} | {g} | (prefill+decode)/request | {cons['latency_ratio']:.3f} | "
                      f"{cons['energy_ratio_gpu']:.3f} | | | | | |")


def calibration() -> None:
    cal = V / "calibration"
    for card in ("h100", "h200"):
        for dtype in ("bfloat16", "float32"):
            print(f"\n{(cal / f'{card}-transformers-eager-{dtype}-validation.md').read_text()}")
    print("\nH200 profiles predicting the earlier H200 sweep (session 1: other machine instance, 5 ms polling,"
          " one decode repetition):\n")
    print("| profile | subset | phase | n | latency MAPE | latency max APE | energy MAPE | energy max APE |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for dtype in ("bfloat16", "float32"):
        doc = json.loads((cal / f"h200-transformers-eager-{dtype}-validation-session1.json").read_text())
        run_to_run = json.loads((cal / f"h200-transformers-eager-{dtype}-run-to-run.json").read_text())
        for r in doc["rows"] + [r for r in run_to_run["rows"] if r["subset"] == "run-to-run"]:
            print(f"| {doc['profile']} | {r['subset']} | {r['phase']} | {r['n']} | {r['latency_mape']:.1%} | "
                  f"{r['latency_max_ape']:.1%} | {r['energy_mape']:.1%} | {r['energy_max_ape']:.1%} |")


def closed_forms() -> None:
    from joulebench.calibration.closed_forms_report import study_coefficient

    print("| dtype | form | coef | ours ± 95% CI | unit | R² | study (H100 SXM, float32) |")
    print("|---|---|---|---:|---|---:|---:|")
    study = _study_case1()
    for dtype in ("float32", "bfloat16"):
        doc = json.loads((V / "calibration" / f"h100-fit-llama-3.1-8b-{dtype}.json").read_text())
        for form, f in doc["forms"].items():
            if f.get("status") != "fitted":
                print(f"| {dtype} | {form} | - | {f.get('message')} | | | |")
                continue
            for name, c in f["coefficients"].items():
                ref = study_coefficient(study, form, name)
                value, ci, unit = ((c["value_wh"], c["ci95_wh"], c["unit_wh"]) if "value_wh" in c
                                   else (c["value"], c["ci95"], c["unit"]))
                print(f"| {dtype} | {f['equation']} | {name} | {value:.4g} ± {ci:.2g} | {unit} | "
                      f"{f['r2']:.3f} | {'-' if ref is None else f'{ref:.4g}'} |")


def serving() -> None:
    study = json.loads(STUDY.read_text())["case_II_system_levers"]["serving"] if STUDY.is_file() else {}
    ref = study.get("llama_8b_Wh_per_request", {})
    print("| run | arm | requests ok / failed | Wh/request (all) | GPU Wh/request | J/output token | steady GPU J/token |"
          " req/s | TTFT p50 / p99 s | TPOT p50 s | E2E p50 / p99 s | lateness p99 ms | study Wh/request |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    baseline = ref.get("transformers_sequential_baseline")
    study_for = {"seq-fp32": baseline, "seq-bf16": baseline, "cb-burst": ref.get("tgi_burst"),
                 "cb-fixed-50ms": ref.get("tgi_fixed_50ms")}
    rows = []
    with stored_sql(V / "serving" / "run_a" / "serving.db.gz") as conn:
        for name, summary in conn.execute("SELECT json_extract(config_json,'$.name'), summary_json FROM points"):
            rows.append(("run_a", name, json.loads(summary)["headline"]))
    for run in ("run_b", "run_c"):
        for path in sorted((V / "serving" / run).glob("*.json")):
            if path.name != "summary.json":
                rows.append((run, path.stem, json.loads(path.read_text())["headline"]))
    for run, arm, h in rows:
        st = study_for.get(arm)
        study_text = "-" if st is None else f"{st:.2g} (TGI)" if "cb" in arm else f"{st:.2g}"
        print(f"| {run} | {arm} | {h['completed']} / {h['failed']} | {h['wh_per_request']:.3g} | "
              f"{h['gpu_wh_per_request']:.3g} | "
              f"{h['j_per_output_token']:.2f} | {h['steady_gpu_j_per_output_token']:.2f} | {h['requests_per_s']:.2f} | "
              f"{h['ttft_p50_s']:.2f} / {h['ttft_p99_s']:.2f} | {h['tpot_p50_s']:.3f} | {h['e2e_p50_s']:.1f} / "
              f"{h['e2e_p99_s']:.1f} | {h['lateness_p99_s'] * 1e3:.2f} | {study_text} |")


def issue10_phases() -> None:
    """Llama-3.1-8B bf16 s=1200 g=256, eager and static: the phases, their consistency and floors."""
    print("| engine | phase | latency s | GPU J | above warm idle J | 95% CI J | reps | x floor (t / E) | flags |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for engine in ("eager", "static"):
        point = json.loads((V / "issue10" / f"llama8b_{engine}.json").read_text())["points"][0]
        for phase in ("prefill", "decode", "request"):
            d = point[phase]
            floor = d.get("floor") or {}
            t_ratio = floor.get("latency_ratio_to_floor", float("nan"))
            e_ratio = floor.get("energy_ratio_to_floor", float("nan"))
            ratios = f"{t_ratio:.2f} / {e_ratio:.2f}"
            ci = (d.get("ci95_j") or {}).get("gpu")
            print(f"| {engine} | {phase} | {d['latency_s']:.4f} | {d['energy_j']['gpu']:.1f} | "
                  f"{d['above_idle_energy_j']['gpu']:.1f} | {'-' if ci is None else f'{ci:.1f}'} | {d['reps']} | "
                  f"{ratios} | {', '.join(f for f in point['flags'] if f.endswith(phase)) or '-'} |")
    print()
    print("| engine | (prefill + decode) / request: latency | GPU energy | decode ms/token | idle cold / warm W |")
    print("|---|---:|---:|---:|---|")
    import sqlite3

    with sqlite3.connect(f"file:{V / 'issue10' / 'llama8b_phases.db'}?immutable=1", uri=True) as conn:
        baselines = [json.loads(r[0]) for r in conn.execute("SELECT baseline_json FROM runs ORDER BY id")]
    for engine, base in zip(("eager", "static"), baselines, strict=True):
        point = json.loads((V / "issue10" / f"llama8b_{engine}.json").read_text())["points"][0]
        c = point["consistency"]
        per_token = point["decode"]["latency_s"] / (point["tokens"]["output_tokens_per_sequence"] - 1) * 1e3
        idle = f"{base['cold']['power_w']['gpu']:.1f} / {base['warm']['power_w']['gpu']:.1f}" if "warm" in base else "-"
        print(f"| {engine} | {c['latency_ratio']:.4f} | {c['energy_ratio_gpu']:.4f} | {per_token:.2f} | {idle} |")


def issue10_windows() -> None:
    """Short windows against >= 20 s references, each method on the same 8 trials."""
    doc = json.loads((V / "issue10" / "meter_fidelity_windows.json").read_text())
    print("| workload | call ms | reference J/call | method | mean abs error | max abs error | target (0.5% / 1%) |")
    print("|---|---:|---:|---|---:|---:|---|")
    for label, w in doc["windows"].items():
        for method in ("trace", "trace_previous_rule", "counter_edges", "trace_gain_corrected"):
            m = w.get(method)
            if m:
                print(f"| {label} | {w['call_s'] * 1e3:.1f} | {w['reference_j']:.3f} | {method} | "
                      f"{m['mean_abs_error']:.2%} | {m['max_abs_error']:.2%} | {'met' if m['pass'] else 'missed'} |")


def issue10_overhead() -> None:
    """Meter overhead on eager and static decode (paired none/meter rounds), and the idle baselines."""
    doc = json.loads((V / "issue10" / "meter_fidelity_overhead.json").read_text())
    print("| engine | rounds | ms/token (none / meter) | overhead mean | 95% CI half-width | target (<= 0.5%, CI <= 0.5%) |")
    print("|---|---:|---:|---:|---:|---|")
    for engine in ("eager", "static"):
        o = doc["overhead"][engine]
        print(f"| {engine} | {o['rounds']} | {o['per_token_none_ms']:.2f} / {o['per_token_meter_ms']:.2f} | "
              f"{o['overhead_mean']:+.2%} | {o['overhead_ci95_half']:.2%} | {'met' if o['pass'] else 'missed'} |")
    print()
    print("| baseline | GPU W | settle s | SM MHz | temperature C |")
    print("|---|---:|---:|---:|---:|")
    for key in ("cold_idle", "warm_idle"):
        b = doc[key]
        print(f"| {b['state']} | {b['power_w']['gpu']:.1f} | {b['settle_s']:.0f} | {b['sm_clock_mhz']:.0f} | "
              f"{b['temperature_c']:.0f} |")


def issue11_static() -> None:
    """The static-engine profile's training and held-out errors, each beside the run-to-run floor of the
    same points (the designed sweep and its repeat on another card)."""
    doc = json.loads((V / "calibration" / "h200-transformers-static-bf16-validation.json").read_text())
    floors = {(f["subset"], f["phase"]): f for f in doc.get("floors", [])}
    print("| subset | phase | n | latency MAPE / max (floor) | energy MAPE / max (floor) | target (5% / 10%) | "
          "floor pairs | MAPE / floor (latency, energy) |")
    print("|---|---|---:|---:|---:|---|---:|---:|")
    for r in doc["rows"]:
        if r["subset"] == "run-to-run":
            continue
        met = r["subset"] == "train" or (max(r["latency_mape"], r["energy_mape"]) <= 0.05 and
                                          max(r["latency_max_ape"], r["energy_max_ape"]) <= 0.10)
        f = floors.get((r["subset"], r["phase"]))
        fl = f"{f['latency_mape']:.1%}" if f else "-"
        fe = f"{f['energy_mape']:.1%}" if f else "-"
        ratio = f"{r['latency_mape'] / f['latency_mape']:.1f}x, {r['energy_mape'] / f['energy_mape']:.1f}x" if f else "-"
        print(f"| {r['subset']} | {r['phase']} | {r['n']} | {r['latency_mape']:.1%} / {r['latency_max_ape']:.1%} ({fl}) | "
              f"{r['energy_mape']:.1%} / {r['energy_max_ape']:.1%} ({fe}) | "
              f"{'-' if r['subset'] == 'train' else ('met' if met else 'missed')} | {f['n'] if f else 0} | {ratio} |")


def ci_under_load() -> None:
    """Issue 17: each run of the README's test command in ``scripts/ci_runs_under_load.sh``'s result file."""
    import re

    lines = (V / "ci" / "runs_under_load.txt").read_text().splitlines()
    print("| the series, as its file records it |")
    print("|---|")
    for line in lines:
        if line.startswith("# "):
            print(f"| {line[2:]} |")
    print()
    print("| run | exit code | wall s | 1-min load at the end | pytest |")
    print("|---:|---:|---:|---:|---|")
    for line in lines:
        m = re.match(r"run (\d+): rc=(\d+) wall_s=(\d+) load1=([\d.]+) \| (.*)", line)
        if m:
            print(f"| {m[1]} | {m[2]} | {m[3]} | {m[4]} | {m[5]} |")
    tail = [line for line in lines if line.startswith(("all ", "stopped:"))]
    print(f"| - | - | - | - | {tail[-1] if tail else 'series not finished'} |")


def issue19_validate() -> None:
    """Wan2.1-1.3B full 50-step pipeline runs against the K-sampled-steps prediction, and the full runs'
    component split (``scripts/measure_video_pipelines.py --parts validate``)."""
    doc = json.loads((V / "video" / "pipelines" / "validate.json").read_text())
    wh = 3600.0
    print("| HxWxT, 50 steps | predicted from K=3 steps s (+-95%) | full run s | error | predicted GPU Wh | "
          "full GPU Wh | error | analytic (catalogue / H200 profile) s | the study (H100) s / GPU Wh |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in doc["comparison"]:
        if "full_run" not in c:
            continue
        cfg, full, study = c["config"], c["full_run"], c.get("study_table4")
        an = _video_analytic(cfg)
        theirs = f"{study['latency_s']} / {study['gpu_Wh']}" if study else "-"
        print(f"| {cfg['height']}x{cfg['width']}x{cfg['frames']} | {c['latency_s']:.1f} (+-{c['latency_ci95_s']:.1f}) | "
              f"{full['latency_s']:.1f} | {full['latency_error_pct']:+.2f}% | {c['energy_j']['gpu'] / wh:.2f} | "
              f"{full['energy_j']['gpu'] / wh:.2f} | {full['gpu_energy_error_pct']:+.2f}% | "
              f"{an['defaults']['latency_s']:.0f} / {an['h200_profile']['latency_s']:.0f} | "
              f"{theirs} |")
    print()
    parts = ("text_encode", "prepare", "denoiser_forwards", "step_rest", "vae_decode", "postprocess")
    print("| full run HxWxT | call s | " + " | ".join(f"{n} s" for n in parts)
          + " | GPU Wh | CPU Wh (est.) | RAM Wh (est.) |")
    print("|---|---:|" + "---:|" * (len(parts) + 3))
    for pt in doc["points"]:
        cfg = pt["config"]
        if cfg.get("sample_steps") is not None:
            continue
        e = pt["call"]["energy_j"]
        print(f"| {cfg['height']}x{cfg['width']}x{cfg['frames']} | {pt['call']['latency_s']:.2f} | "
              + " | ".join(f"{pt['parts'][n]['latency_s']:.2f}" for n in parts)
              + f" | {e['gpu'] / wh:.2f} | {e['cpu'] / wh:.2f} | {e['ram'] / wh:.2f} |")


def issue12_thank_you() -> None:
    """The thank-you study on the H200 (eager fp32 Llama-3.1-8B, random weights): its tables as
    ``study thank-you --tables-only`` computes them from the stored points, then every stored point."""
    tables = _study_tables("thank_you_tables.json")
    for name in ("per_reply", "avg_power", "protocol"):
        _print_study_table(tables[name])
    print("| point | stage (point budget) | prompt / reply tokens | prefill s | decode s (cv) | request s | "
          "request GPU J | rounds | unstable | wall s |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---|---:|")
    for pid, plan, d in _study_points("thank-you"):
        budget = plan.get("protocol_overrides", {}).get("stability", {}).get("budget_s", 120)
        tok, inter = d["tokens"], d["interleaving"]
        print(f"| {pid} | {plan['stage']} ({budget:.0f} s) | {tok['prompt_tokens_effective']} / "
              f"{tok['output_tokens_effective']} | "
              f"{d['prefill']['latency_s']:.3f} | {d['decode']['latency_s']:.3f} ({d['decode']['cv']:.1%}) | "
              f"{d['request']['latency_s']:.3f} | {d['request']['energy_j']['gpu']:.0f} | {inter['rounds']} | "
              f"{', '.join(inter['unstable']) or '-'} | {d['wall_s']:.0f} |")


def _study_points(study: str) -> list[tuple[int, dict, dict]]:
    """(point id, its run's plan, its summary) of every LLM point the studies' store holds for ``study``."""
    with stored_sql(V / "studies" / "llm_studies.db.gz") as conn:
        rows = conn.execute("SELECT points.id, runs.plan_json, summary_json FROM points JOIN runs ON "
                            "runs.id = points.run_id WHERE points.kind = 'llm' ORDER BY points.id").fetchall()
    plans = [(pid, json.loads(plan), text) for pid, plan, text in rows]
    return [(pid, plan, json.loads(text)) for pid, plan, text in plans if plan.get("study") == study]


def _study_tables(name: str) -> dict[str, dict]:
    """The tables of one committed ``study ... --tables-only --json`` document, by table name."""
    return {item["name"]: item for item in json.loads((V / "studies" / name).read_text())["tables"]}


def _print_study_table(item: dict) -> None:
    print("| " + " | ".join(item["columns"]) + " |")
    print("|" + "---|" * len(item["columns"]))
    for row in item["rows"]:
        print("| " + " | ".join("-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v) for v in row)
              + " |")
    print()


def _study_floors(study: str) -> None:
    """Every stored point of ``study`` (by its run's plan) beside its physical floor on the H200, as the
    point itself computed it (`analytic.floors`: FLOPs at peak or bytes at bandwidth, whichever binds;
    energy at the calibrated best J/FLOP and J/byte). A ratio below 1 would be flagged on the point."""
    print("| point | model | dtype | engine | batch | prompt / reply tokens | prefill latency / floor | "
          "prefill energy / floor | decode bound | decode latency / floor | decode energy / floor |")
    print("|---:|---|---|---|---:|---|---:|---:|---|---:|---:|")
    for pid, _, d in _study_points(study):
        cfg, pre, dec = d["config"], d["prefill"]["floor"], d["decode"]["floor"]
        print(f"| {pid} | {cfg['model']} | {cfg['dtype']} | {cfg['engine']} | {cfg['batch']} | "
              f"{d['tokens']['prompt_tokens_computed']} / {d['tokens']['output_tokens_per_sequence']} | "
              f"{pre['latency_ratio_to_floor']:.2f} | {pre['energy_ratio_to_floor']:.2f} | {dec['floor']['bound']} | "
              f"{dec['latency_ratio_to_floor']:.2f} | {dec['energy_ratio_to_floor']:.2f} |")


def issue12_sizes() -> None:
    """``study sizes`` on the H200 (eager fp32, 1,200-token prompt, 32-token reply), then each point's floors."""
    _print_study_table(_study_tables("sizes_tables.json")["sizes"])
    _study_floors("sizes")


def issue12_precision() -> None:
    """``study precision`` on the eager engine, then on the static one, then each point's floors (the
    eager fp32 point is the sizes study's Llama-3.1-8B point: the same configuration, measured once)."""
    _print_study_table(_study_tables("precision_eager_tables.json")["precision"])
    _print_study_table(_study_tables("precision_static_tables.json")["precision"])
    _study_floors("precision")


def issue12_batch() -> None:
    """``study batch`` (eager bf16, batches 1/4/16, random and length-bucketed), then each point's floors."""
    _print_study_table(_study_tables("batch_tables.json")["batch"])
    _study_floors("batch")


def issue12_gpu_time() -> None:
    """The GPU time of each study, as its own document counts it (each point's wall time less its model
    load: warm-ups and the static engine's compiles included; a point two studies share counted in both),
    and where each stopped."""
    print("| study | document | points stored | GPU s (points) | wall s (points) | stop |")
    print("|---|---|---:|---:|---:|---|")
    for study, name in (("thank-you", "thank_you_tables.json"), ("sizes", "sizes_tables.json"),
                        ("precision, eager", "precision_eager_tables.json"),
                        ("precision, static", "precision_static_tables.json"), ("batch", "batch_tables.json")):
        doc = json.loads((V / "studies" / name).read_text())
        print(f"| {study} | {name} | {doc['points']['skipped']} | {doc['gpu_time']['measure_s']:.0f} | "
              f"{doc['gpu_time']['wall_s']:.0f} | {doc['stop']} |")


def _video_analytic(cfg: dict) -> dict:
    """``predict video`` for a stored point's configuration, computed now with the device script's own
    helper (`measure_video_pipelines._analytic`: catalogue defaults and the committed H200 video profile,
    the VAE in the dtype the point decoded in). The device run's own JSON priced Wan's fp32 VAE at the
    bf16 peak: a miscount, fixed since."""
    for folder in (str(Path(__file__).resolve().parent), str(V.parent.parent / "src")):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    from measure_video_pipelines import _analytic

    return _analytic(cfg)


def _pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.1f}%"


def issue19_scaling() -> None:
    """The three Wan2.1-1.3B sweeps (``--parts scaling``): each point's 50-step (or full) call, measured or
    predicted from 2 sampled steps, beside the analytic FLOP model (catalogue defaults, H200 profile)."""
    doc = json.loads((V / "video" / "pipelines" / "scaling.json").read_text())
    wh = 3600.0
    print("| sweep | HxWxT | steps | measured s (+-95%) | GPU Wh | analytic s: catalogue (error) | "
          "H200 profile (error) | profile GPU Wh (error) | per step s | VAE s (profile) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in doc["comparison"]:  # once per point: every table below reads it
        c["analytic"] = _video_analytic(c["config"])
    seen = set()
    for c in doc["comparison"]:
        cfg = c["config"]
        key = (cfg["height"], cfg["width"], cfg["frames"], cfg["steps"], cfg["sample_steps"])
        sweep = ("resolution" if cfg["frames"] == 81 and cfg["steps"] == 50 and (cfg["height"], cfg["width"]) != (720, 1280)
                 else "frames" if cfg["frames"] != 81 else "steps" if cfg["steps"] != 50 else "all three")
        if key in seen:
            continue
        seen.add(key)
        an = c["analytic"]
        measured = "full run" if cfg["sample_steps"] is None else f"+-{c['latency_ci95_s']:.2f}"
        gpu = c["energy_j"]["gpu"]
        prof = an["h200_profile"]
        print(f"| {sweep} | {cfg['height']}x{cfg['width']}x{cfg['frames']} | {cfg['steps']} | {c['latency_s']:.1f} "
              f"({measured}) | {gpu / wh:.2f} | {an['defaults']['latency_s']:.1f} "
              f"({_pct(an['defaults']['latency_s'], c['latency_s'])}) | {prof['latency_s']:.1f} "
              f"({_pct(prof['latency_s'], c['latency_s'])}) | {prof['energy_j'] / wh:.2f} "
              f"({_pct(prof['energy_j'], gpu)}) | {c['step_mean_s']:.2f} | {c['parts_s']['vae_decode']:.2f} "
              f"({prof['components_s']['vae_decoder']:.2f}) |")
    print()
    print("| error of the analytic model over the sweeps | n | latency MAPE / max | GPU energy MAPE / max |")
    print("|---|---:|---:|---:|")
    rows = doc["comparison"]
    for label in ("defaults", "h200_profile"):
        lat = [abs(c["analytic"][label]["latency_s"] / c["latency_s"] - 1) for c in rows]
        en = [abs(c["analytic"][label]["energy_j"] / c["energy_j"]["gpu"] - 1) for c in rows]
        name = "catalogue defaults" if label == "defaults" else "H200 video profile"
        print(f"| {name} | {len(lat)} | {sum(lat) / len(lat):.1%} / {max(lat):.1%} | "
              f"{sum(en) / len(en):.1%} / {max(en):.1%} |")
    val = {(p["config"]["height"], p["config"]["width"], p["config"]["frames"], p["config"]["steps"]): p
           for p in json.loads((V / "video" / "pipelines" / "validate.json").read_text())["points"] if "request" in p}
    print()
    print("| K=2 prediction against the full 50-step run (validate part) | predicted s | full s | error |")
    print("|---|---:|---:|---:|")
    shown = set()
    for c in rows:
        cfg = c["config"]
        key = (cfg["height"], cfg["width"], cfg["frames"], cfg["steps"])
        full = val.get(key)
        if full is not None and cfg["sample_steps"] is not None and key not in shown:
            shown.add(key)
            print(f"| {cfg['height']}x{cfg['width']}x{cfg['frames']}, 50 steps | {c['latency_s']:.1f} | "
                  f"{full['request']['latency_s']:.1f} | {_pct(c['latency_s'], full['request']['latency_s'])} |")


def issue19_models() -> None:
    """The cross-model table (``--parts models,models-large``): each model at its defaults, 2 steps sampled and the call
    predicted, beside the study's Table 4 (H100 SXM) and the analytic model with the catalogue defaults."""
    docs = [json.loads((V / "video" / "pipelines" / f"{part}.json").read_text()) for part in ("models", "models-large")]
    points = {p["config"]["model"]: p for d in docs for p in d["points"]}
    wh = 3600.0
    print("| model | HxWxT, steps | H200 s (+-95%) | GPU Wh | CPU Wh (est.) | RAM Wh (est.) | per step s | "
          "step at bf16 peak | VAE s | analytic s (catalogue) | study H100 s / GPU Wh |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in (c for d in docs for c in d["comparison"]):
        cfg = c["config"]
        where = f"{cfg['height']}x{cfg['width']}x{cfg['frames']}, {cfg['steps']}"
        if "error" in c:
            print(f"| {cfg['model']} | {where} | failed: {c['error'][:90]} | | | | | | | | |")
            continue
        peak = points[cfg["model"]]["dit_step"]["floors"]["achieved_fraction_of_peak"]
        e, study = c["energy_j"], c.get("study_table4")
        an = _video_analytic(cfg)["defaults"]
        analytic = f"{an['latency_s']:.1f}" if "latency_s" in an else "no op model"
        theirs = f"{study['latency_s']} / {study['gpu_Wh']}" if study else "-"
        print(f"| {cfg['model']} | {where} | {c['latency_s']:.1f} (+-{c['latency_ci95_s']:.1f}) | {e['gpu'] / wh:.2f} | "
              f"{e['cpu'] / wh:.2f} | {e['ram'] / wh:.2f} | {c['step_mean_s']:.2f} | {peak:.0%} | "
              f"{c['parts_s']['vae_decode']:.2f} | {analytic} | {theirs} |")


def issue19_offload() -> None:
    """Wan2.1-1.3B at 720x1280x81 with ``enable_model_cpu_offload`` against the same call without offload:
    the measured K=3 call's parts and steps, and the 50-step prediction as the device run stored it (every
    measured step repeated 50 times) and derived again from the same stored steps with the first one counted
    once (`build.one_time_steps`: the step that moves the model in)."""
    from joulebench.workloads.diffusion.build import one_time_steps
    from joulebench.workloads.diffusion.pipeline_point import predict_full, stored_step_docs

    pipelines = V / "video" / "pipelines"
    at_720 = [pt for pt in json.loads((pipelines / "validate.json").read_text())["points"]
              if pt["config"]["height"] == 720]
    runs = [("none", pt) for pt in at_720 if pt["config"]["sample_steps"] is not None]
    runs += [("model", pt) for pt in json.loads((pipelines / "offload.json").read_text())["points"]]
    full = next(pt for pt in at_720 if pt["config"]["sample_steps"] is None)
    print("| offload | K=3 call s | text_encode s | vae_decode s | step 1 s | later steps s | 50 steps, every step "
          "repeated s (+-95%) | 50 steps, step 1 once s (+-95%) | GPU Wh (step 1 once) | vs the full run without offload |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, pt in runs:
        docs = stored_step_docs(pt)
        naive = predict_full(pt["call"], docs, pt["config"]["steps"])
        once = predict_full(pt["call"], docs, pt["config"]["steps"], one_time_steps(mode))
        later = ", ".join(f"{d['latency_s']:.2f}" for d in docs[1:])
        print(f"| {mode} | {pt['call']['latency_s']:.2f} | {pt['parts']['text_encode']['latency_s']:.2f} | "
              f"{pt['parts']['vae_decode']['latency_s']:.2f} | {docs[0]['latency_s']:.2f} | {later} | "
              f"{naive['latency_s']:.1f} (+-{naive['latency_ci95_s']:.1f}) | "
              f"{once['latency_s']:.1f} (+-{once['latency_ci95_s']:.1f}) | {once['energy_j']['gpu'] / 3600:.2f} | "
              f"{once['latency_s'] / full['call']['latency_s'] - 1:+.1%} |")
    print(f"| none, full 50-step run | {full['call']['latency_s']:.2f} | "
          f"{full['parts']['text_encode']['latency_s']:.2f} | {full['parts']['vae_decode']['latency_s']:.2f} | "
          f"{full['steps']['latency_s'][0]:.2f} | (measured) | | | {full['call']['energy_j']['gpu'] / 3600:.2f} | |")


def issue14_ray() -> None:
    """The one-node Ray comparison (``scripts/compare_ray_executor.sh``): each figure of the Ray run beside
    the two local runs, and whether it lies within the script's run-to-run tolerance."""
    doc = json.loads((V / "ray" / "compare_ray_executor.json").read_text())
    print("| prompt tokens | phase | figure | local 1 | Ray | local 2 | Ray vs local mean | local 1 vs 2 | within |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---|")
    for r in doc["rows"]:
        print(f"| {r['prompt_tokens']} | {r['phase']} | {r['figure']} | {r['local1']:.4g} | {r['ray']:.4g} | "
              f"{r['local2']:.4g} | {r['ray_vs_local_mean_pct']:+.1f}% | {r['local_spread_pct']:.1f}% | "
              f"{'yes' if r['within_floor'] else 'NO'} |")
    node = doc["ray_node"]
    print(f"| verdict | | | | {doc['verdict']} | | | | worker on {node['host']}, GPU {', '.join(node['gpus'])}, "
          f"attempt {node['attempt']} |")


SECTIONS = {"short-window": short_window, "overhead": overhead, "llama8b": llama8b, "calibration": calibration,
            "closed-forms": closed_forms, "serving": serving, "issue10-phases": issue10_phases,
            "issue10-windows": issue10_windows, "issue10-overhead": issue10_overhead, "issue11-static": issue11_static,
            "ci-under-load": ci_under_load, "issue19-validate": issue19_validate,
            "issue12-thank-you": issue12_thank_you, "issue12-sizes": issue12_sizes,
            "issue12-precision": issue12_precision, "issue12-batch": issue12_batch,
            "issue12-gpu-time": issue12_gpu_time, "issue19-scaling": issue19_scaling,
            "issue19-models": issue19_models,
            "issue19-offload": issue19_offload, "issue14-ray": issue14_ray, **SERVING_SECTIONS}

VALIDATION = V.parent / "VALIDATION.md"
#: the round-1 sections print headings and prose between their tables and are pasted by hand from this
#: script's output; every later section's output is tables alone, rewritten in place by ``--write``
PASTED_BY_HAND = ("short-window", "overhead", "llama8b", "calibration", "closed-forms", "serving")
WRITABLE = tuple(name for name in SECTIONS if name not in PASTED_BY_HAND)


def write() -> None:
    """Replace, in docs/VALIDATION.md, the table after each ``<!-- section -->`` marker with the table the
    section prints now (a table = the lines starting with ``|`` or blank lines between its tables)."""
    import contextlib
    import io

    lines = VALIDATION.read_text().split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        name = line.strip()[5:-4].strip() if line.strip().startswith("<!--") and line.strip().endswith("-->") else None
        if name in WRITABLE:
            while i < len(lines) and (lines[i].startswith("|") or (not lines[i].strip() and i + 1 < len(lines)
                                                                   and lines[i + 1].startswith("|"))):
                i += 1
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                SECTIONS[name]()
            out += buf.getvalue().rstrip("\n").split("\n")
    VALIDATION.write_text("\n".join(out))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        for section in sys.argv[1:] or list(SECTIONS):
            print(f"\n<!-- {section} -->")
            SECTIONS[section]()
