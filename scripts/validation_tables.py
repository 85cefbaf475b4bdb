#!/usr/bin/env python3
"""Print the markdown tables of docs/VALIDATION.md from the committed result files (no number is typed
by hand). Usage: python scripts/validation_tables.py [section ...]   sections: short-window overhead
llama8b calibration closed-forms serving"""

from __future__ import annotations

import json
import sys
from pathlib import Path

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
    from joulebench.calibration.closed_forms import study_coefficient

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
    import sqlite3

    with sqlite3.connect(V / "serving" / "run_a" / "serving.db") as conn:
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


SECTIONS = {"short-window": short_window, "overhead": overhead, "llama8b": llama8b, "calibration": calibration,
            "closed-forms": closed_forms, "serving": serving}

if __name__ == "__main__":
    for section in sys.argv[1:] or list(SECTIONS):
        print(f"\n<!-- {section} -->")
        SECTIONS[section]()
