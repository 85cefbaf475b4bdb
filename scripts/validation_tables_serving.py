#!/usr/bin/env python3
"""The serving tables of docs/VALIDATION.md (issue 18: run_d's arms, run_e's and run_f's calls and the
must-show), from the committed stores; printed and written by ``scripts/validation_tables.py``, whose
other sections are the other issues'. Apart because the must-show table grows call by call and its helpers
(one store per card model, the arms by call) concern no other section."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

V = Path(__file__).resolve().parent.parent / "docs" / "validation"
STUDY = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "seed_figures.json"
if str(V.parent.parent / "src") not in sys.path:  # this tree's joulebench, installed or not
    sys.path.insert(0, str(V.parent.parent / "src"))


@contextmanager
def stored_sql(path: Path) -> Iterator[sqlite3.Connection]:
    """Plain SQL over a committed store, read-only. The stores are committed gzipped (``.db.gz``: the tree
    that travels to the GPU box has 64 MiB, wheels included); `Store.open_read` reads one through a
    temporary copy that it removes on close."""
    from joulebench.store import Store

    with Store.open_read(path) as store, store.raw() as conn:
        yield conn


def issue18_h200() -> None:
    """Every arm of the seventh session's serving calls (run_d) beside its floor; the floor of the knob
    sweep's and the CB arms (stored without one: their card was not read from the meters) is recomputed
    from their request records as the live arms compute it (`serving_bench.stored_floor`)."""
    from joulebench.experiments.serving_bench import stored_floor

    print("| call | arm | preset / knob | requests ok / cut | Wh/request | GPU Wh/request | floor Wh/request"
          " | ratio to floor | J/output token | TTFT p50 / p90 s | TPOT p50 / p90 s | output tok/s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for call in ("knobs", "cb_laws", "serve"):
        with stored_sql(V / "serving" / "run_d" / call / "serving.db.gz") as conn:
            env = json.loads(conn.execute("SELECT env_json FROM runs ORDER BY id LIMIT 1").fetchone()[0])
            points = conn.execute("SELECT id, config_json, summary_json FROM points ORDER BY id").fetchall()
            for pid, config_text, summary_text in points:
                config, summary = json.loads(config_text), json.loads(summary_text)
                floor, mark = summary["floor"], ""
                if not floor.get("available"):
                    rows = conn.execute("SELECT payload_json FROM records WHERE point_id=? AND kind='requests' "
                                        "ORDER BY seq", (pid,)).fetchall()
                    floor, mark = stored_floor(config, summary, [json.loads(r[0]) for r in rows], env), " (r)"
                h, engine = summary["headline"], config.get("engine") or {}
                knob = ", ".join(f"{k}={v}" for k, v in engine.get("knobs", {}).items()) or engine.get("preset") or "-"
                print(f"| {call} | {config['name']} | {knob} | {h['completed']} / {h['failed']} | "
                      f"{h['wh_per_request']:.3g} | {h['gpu_wh_per_request']:.3g} | {floor['mean_wh']:.2e}{mark} | "
                      f"{floor['ratio_to_floor']:.1f}{mark} | {h['j_per_output_token']:.2f} | {h['ttft_p50_s']:.2f} / "
                      f"{h['ttft_p90_s']:.2f} | {h['tpot_p50_s']:.3f} / {h['tpot_p90_s']:.3f} | "
                      f"{h['output_tokens_per_s']:.0f} |")
    if STUDY.is_file():
        from joulebench.serving.figures import STUDY as SETTINGS
        from joulebench.serving.figures import compare, study_figures

        print()
        print("| study figure (H100) | Wh/request | floor of its own setting, Wh | ratio to floor |")
        print("|---|---:|---:|---:|")
        for row in compare(study_figures(STUDY), SETTINGS):
            flag = " BELOW FLOOR" if row["below_floor"] else ""
            print(f"| {row['figure']} | {row['wh_per_request']:.2g} | {row['floor_wh']:.2e} | "
                  f"{row['ratio_to_floor']:.2f}{flag} |")


def _arms_by_call(db: Path, variants: bool = False, card: str | None = None) -> None:
    """Each arm of a must-show store with the call (the run) it ran in and its place among the arms that
    server (or engine) served in that call; with ``variants``, the variant its tag names (`arm_variant`);
    with ``card``, a first column naming the store's card model (one table per store, printed in a row)."""
    from joulebench.experiments.serving_table import arm_variant

    extra = (" variant |", "---|") if variants else ("", "")
    first = ("| card ", "|---") if card else ("", "")
    print(f"{first[0]}| run | place in run | arm |{extra[0]} status | requests ok / cut | Wh/request | ratio to floor |"
          " TTFT p50 s | TPOT p50 s | output tok/s | window s | decoding at 10 s |")
    print(f"{first[1]}|---:|---:|---|{extra[1]}---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with stored_sql(db) as conn:
        runs = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id")]
        points = conn.execute("SELECT id, run_id, status, error, config_json, summary_json FROM points ORDER BY id")
        place: dict[int, int] = {}
        for pid, run, status, error, config_text, summary_text in points.fetchall():
            place[run] = place.get(run, 0) + 1
            config = json.loads(config_text)
            variant = f" {arm_variant(config.get('tag')) or 'default'} |" if variants else ""
            head = (f"{f'| {card} ' if card else ''}| {runs.index(run) + 1} | {place[run]} | {config['name']} |"
                    f"{variant} {status} |")
            summary = json.loads(summary_text)
            h = summary.get("headline")
            if status != "ok" or not h:
                print(f"{head} {(error or '').splitlines()[0][:90]} | | | | | | | |")
                continue
            rows = conn.execute("SELECT payload_json FROM records WHERE point_id=? AND kind='requests'", (pid,))
            records = [json.loads(r[0]) for r in rows]
            decoding = sum(1 for r in records if r.get("first_token_s") is not None
                           and r["first_token_s"] <= 10.0 < (r.get("end_s") or 0.0))
            print(f"{head} {h['completed']} / {h['failed']} | {h['wh_per_request']:.3g} | "
                  f"{summary['floor']['ratio_to_floor']:.1f} | {h['ttft_p50_s']:.2f} | {h['tpot_p50_s']:.3f} | "
                  f"{h['output_tokens_per_s']:.0f} | {summary['energy']['window']['duration_s']:.0f} | {decoding} |")


def issue18_run_e() -> None:
    """The eighth session's must-show calls (run_e): each arm with the call it ran in and its place among
    the arms that server (or engine) served in that call; then the engine profile (16 requests under burst)."""
    _arms_by_call(V / "serving" / "run_e" / "serving.db.gz")
    print()
    print("| engine preset (profile) | requests | prompt + output tokens | wall s | kernel s | GPU busy | "
          "top kernel | its ms |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for preset in ("library", "tuned"):
        doc = json.loads((V / "serving" / "run_e" / "profile" / f"cb_profile_{preset}.json").read_text())
        top = doc["top_kernels"][0]
        print(f"| {preset} | {doc['served']}/{doc['requests']} | {doc['prompt_tokens']} + {doc['output_tokens']} | "
              f"{doc['wall_s']:.2f} | {doc['kernel_s']:.2f} | {doc['gpu_busy_share']:.0%} | {top['name'][:60]} | "
              f"{top['total_ms']:.0f} |")


def issue18_run_f() -> None:
    """The ninth session's calls (run_f, H100): the cuDNN probe (every variant serves the same 16 requests
    first, then again, then profiled), then the arms of each must-show store (one per card model) by call,
    with their variant."""
    doc = json.loads((V / "serving" / "run_f" / "profile" / "cb_profile.json").read_text())
    print(f"| variant ({doc['gpu']}) | requests | prompt + output tokens | first run s | repeat s | first / repeat |"
          " profiled s | kernel s | GPU busy | top kernel | its ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for row in doc["variants"]:
        top = row["top_kernels"][0]
        print(f"| {row['variant']} | {row['served']}/{row['requests']} | {row['prompt_tokens']} + "
              f"{row['output_tokens']} | {row['first_wall_s']:.2f} | {row['repeat_wall_s']:.2f} | "
              f"{row['first_wall_s'] / row['repeat_wall_s']:.2f} | {row['wall_s']:.2f} | {row['kernel_s']:.2f} | "
              f"{row['gpu_busy_share']:.0%} | {top['name'][:40]} | {top['total_ms']:.0f} |")
    for card, db in must_show_stores():
        print()
        _arms_by_call(db, variants=True, card=card)


def must_show_stores() -> list[tuple[str, Path]]:
    """The must-show's stores in run_f, one per card model (``serving-<card>.db``, gzipped once large)."""
    folder = V / "serving" / "run_f"
    found = sorted(folder.glob("serving-*.db")) + sorted(folder.glob("serving-*.db.gz"))
    return [(f.name.removeprefix("serving-").split(".db")[0], f) for f in found]


def issue18_must_show() -> None:
    """Issue 18's must-show tables from the must-show stores (run_f, one per card model, filled call by
    call): each target under each law, the mean of its repeats and their spread."""
    from joulebench.experiments.serving_table import MUST_SHOW_VARIANTS, must_show_rows
    from joulebench.store import Store

    stores = must_show_stores()
    print("| card | target | law | arms (requests) | Wh/request | ratio to floor | J/output token | TTFT p50 / p90 s |"
          " TPOT p50 / p90 s | E2E p50 / p99 s | repeats' Wh spread | missing |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    if not stores:
        print("| - | - | - | not measured yet (no run_f store) | | | | | | | | |")
        return
    for card, db in stores:
        with Store.open_read(db) as store:
            rows = must_show_rows(store, variants=MUST_SHOW_VARIANTS)  # the other variants: tables above

        for row in rows:
            arms = ", ".join(f"{a} ({c})" for a, c in zip(row.arms, row.completed, strict=True)) or "-"
            flag = " BELOW FLOOR" if row.below_floor else ""
            spread = "-" if row.wh_spread is None else f"{row.wh_spread:.0%}"
            print(f"| {card} | {row.target} | {row.law} | {arms} | {_cell(row, 'wh_per_request', digits='.3g')} | "
                  f"{_cell(row, 'ratio_to_floor', digits='.1f')}{flag} | {_cell(row, 'j_per_output_token')} | "
                  f"{_cell(row, 'ttft_p50_s', 'ttft_p90_s')} | {_cell(row, 'tpot_p50_s', 'tpot_p90_s', digits='.3f')} | "
                  f"{_cell(row, 'e2e_p50_s', 'e2e_p99_s', digits='.1f')} | {spread} | {_missing(row)} |")


def _missing(row: Any) -> str:
    """How many arms a must-show row lacks, and which of those were stored but failed requests."""
    failed = f" (failed: {', '.join(row.failed)})" if row.failed else ""
    return f"{len(row.missing)}{failed}" if row.missing else ""


def _cell(row: Any, *names: str, digits: str = ".2f") -> str:
    """A must-show row's figures ``names`` joined by " / ", "-" where one is missing."""
    return " / ".join("-" if row.figures[n] is None else f"{row.figures[n]:{digits}}" for n in names)


def issue18_cb_memory() -> None:
    """Each CB arm of the must-show stores with its KV cache, the memory its graphs' private pool held at
    the arm's end, and how many padded (query, KV) shapes its knobs allow (``cb_graphs.shape_buckets``, from
    the stored resolved sizes); the graphs it captured, over how many query sizes, and the most keys one of
    them reads, where the arm recorded them (from session 14 on), and the largest query x KV product of one
    graph where the arm lists its shapes (session 15 on). Why these columns: the pool follows neither the
    count nor the largest read alone (fixed 300 ms against burst, run_f call 23); it ranks with the product
    (session 16)."""
    from joulebench.experiments.serving_table import served_in_full
    from joulebench.store import Store
    from joulebench.workloads.cb_graphs import largest_q_by_kv, shape_bound

    print("| card | arm | preset | status | requests ok / sent | KV blocks | KV keys | graphs' pool GiB | "
          "reserved GiB | shapes allowed (q x KV) | graphs captured | query sizes | largest KV read | "
          "largest q x KV (M) | Wh/request |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for card, db in must_show_stores():
        with Store.open_read(db) as store:
            points = [p for p in store.points() if p.config.get("name", "").startswith("cb-")]
        for point in points:
            knobs = point.summary.get("engine_knobs", {})
            cache, memory = knobs.get("cache", {}), knobs.get("memory", {})
            census = (knobs.get("cuda_graphs") or {}).get("census") or {}  # none before session 14
            bound = shape_bound(knobs)
            h = point.summary.get("headline") or {}
            wh = f"{h['wh_per_request']:.3g}" if served_in_full(point) else "-"  # a part-served arm is no figure
            shapes = "-" if bound is None else f"{bound['pairs']:,} ({bound['q_buckets']} x {bound['kv_buckets']})"
            print(f"| {card} | {point.config['name']} | {knobs.get('preset') or '-'} | {point.status} | "
                  f"{h.get('completed', '-')} / {point.config.get('requests', '-')} | "
                  f"{cache.get('num_blocks', '-')} | {cache.get('max_tokens_read', '-')} | "
                  f"{_gib(memory.get('private_pools_gib'))} | {_gib(memory.get('reserved_gib'))} | {shapes} | "
                  f"{census.get('captured', '-')} | {census.get('distinct_q_tokens', '-')} | "
                  f"{_thousands(census.get('max_kv_read'))} | {_millions(largest_q_by_kv(census))} | {wh} |")


def _thousands(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _millions(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def _gib(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


SECTIONS = {"issue18-h200": issue18_h200, "issue18-run-e": issue18_run_e, "issue18-run-f": issue18_run_f,
            "issue18-must-show": issue18_must_show, "issue18-cb-memory": issue18_cb_memory}
