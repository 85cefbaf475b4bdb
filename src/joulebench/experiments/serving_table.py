"""Issue 18's must-show table from one store: every target under every study law, its repeats side by side.

A row is one (target, law): the measured arms ``<target>-<law>`` and ``-r<N>`` for ``cb`` and ``serve``,
the derived ones ``<target>-<law>-derived`` and ``-r<N>`` for the sequential targets (`serving_derive`).
Each figure is the mean of the repeats found, and ``wh_spread`` (largest over smallest Wh per request,
less one) says how far the repeats disagree; a row lists what it lacks, so a partial store prints a
partial table rather than a wrong one. An arm that did not serve every request it sent (a failed point, or
one stored before requests' failures failed the point: run_f's cb-fixed-300ms, 10 of 200) is no repeat: the
row lists it under ``failed`` and still misses it. The study's own figures go beside it through `serving.figures`.

A store may hold one arm name under several variants (its tag less ``repeat<N>``: e.g. the server run
with cuDNN's SDPA off, ``server-sdpa-cudnn-off``); a row takes the arms of the variant asked for its target,
by default the untagged ones, so two configurations are never averaged into one row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from joulebench.experiments.serving_derive import derive_study
from joulebench.experiments.serving_study import LAWS, TARGETS

#: the headline figures a row carries (units in the names)
FIGURES = ("wh_per_request", "gpu_wh_per_request", "floor_wh_per_request", "ratio_to_floor", "j_per_output_token",
           "j_per_input_token", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tpot_p50_s", "tpot_p90_s", "e2e_p50_s",
           "e2e_p99_s", "output_tokens_per_s")
DERIVED = ("seq-fp32", "seq-bf16")


@dataclass(frozen=True)
class MustShowRow:
    target: str
    law: str
    source: str  # "measured" or "derived"
    arms: tuple[str, ...]  # the arms found, repeat 0 first
    completed: tuple[int, ...]  # requests each served
    figures: Mapping[str, float | None]  # each FIGURES entry: the mean over ``arms``
    wh_spread: float | None  # max / min - 1 of the repeats' Wh per request; None with fewer than two
    missing: tuple[str, ...]  # the arms of this row the store lacks (those failed included)
    failed: tuple[str, ...] = ()  # "name (served/sent)" of the arms stored that did not serve every request

    @property
    def below_floor(self) -> bool:
        ratio = self.figures.get("ratio_to_floor")
        return ratio is not None and ratio < 1.0


def arm_names(target: str, law: str, repeats: int) -> list[str]:
    suffix = "-derived" if target in DERIVED else ""
    return [f"{target}-{law}{suffix}" + (f"-r{r}" if r else "") for r in range(repeats)]


def _tag_parts(tag: str | None) -> tuple[list[str], list[str]]:
    """An arm's tag as its repeat part (``repeat<N>``, `serving_study`) and its variant parts."""
    parts = [t for t in (tag or "").split("+") if t]
    repeat = [t for t in parts if re.fullmatch(r"repeat\d+", t)]
    return repeat, [t for t in parts if t not in repeat]


def arm_variant(tag: str | None) -> str | None:
    """The variant an arm's tag names, less its repeat: ``repeat1+server-sdpa-cudnn-off`` -> ``server-sdpa-cudnn-off``."""
    return "+".join(_tag_parts(tag)[1]) or None


def with_variant(tag: str | None, variant: str | None) -> str | None:
    """``tag`` with ``variant`` added: ``repeat1`` + ``fresh-prompts`` -> ``repeat1+fresh-prompts``."""
    return "+".join(t for t in (tag, variant) if t) or None


def without_variant(tag: str | None) -> str | None:
    """``tag`` less its variant (the repeat part only): the tag the same arm has at the defaults."""
    return "+".join(_tag_parts(tag)[0]) or None


#: the tag part of a serve arm whose prompts are its own (scripts/measure_serving.py, ``fresh_prompts``)
FRESH_PROMPTS = "fresh-prompts"


def preset_variant(preset: str) -> str:
    """The tag part of a CB arm run with ``preset`` where the plan runs another (``preset-bounded-graphs``)."""
    return f"preset-{preset}"


#: the variant each must-show row takes: serve arms with prompts of their own, CB arms of the preset that
#: served every request under all five laws on an H100 (run_f calls 21-23); the other variants (shared
#: prompts, ``tuned`` and its probes) are run_f's evidence, never averaged into a row
MUST_SHOW_VARIANTS = {"serve": FRESH_PROMPTS, "cb": preset_variant("bounded-graphs")}


def served_and_sent(point: Any) -> tuple[int, int]:
    """A stored arm's requests served and sent."""
    head = point.summary.get("headline") or {}
    return int(head.get("completed") or 0), int(point.config.get("requests") or 0)


def served_in_full(point: Any) -> bool:
    """A stored arm counts as a figure only if it finished and served every request it sent: an arm stored
    ok before requests' failures failed a point (run_f call 9: 10 of 200 served) is no answer."""
    served, sent = served_and_sent(point)
    return point.status == "ok" and served >= sent


def must_show_rows(store: Any, repeats: int = 2, targets: Sequence[str] = TARGETS,
                   variants: Mapping[str, str | None] | None = None) -> list[MustShowRow]:
    """The rows of the must-show table from ``store`` (read-only): measured arms that finished, and the
    sequential arms derived from the store's service runs. ``variants`` maps a target to the variant its
    arms must carry (`arm_variant`); a target not named takes untagged arms."""
    variants = variants or {}
    headlines: dict[str, Mapping[str, Any]] = {}
    failed: dict[str, str] = {}
    for p in store.points(kind="serving"):
        name = str(p.config.get("name"))
        target = next((t for t in TARGETS if name.startswith(f"{t}-")), None)
        if arm_variant(p.config.get("tag")) != variants.get(target or ""):
            continue
        if served_in_full(p):
            headlines[name] = p.summary.get("headline") or {}
        else:
            failed[name] = "{} ({}/{})".format(name, *served_and_sent(p))
    if any(t in DERIVED for t in targets):
        headlines.update({doc["arm"]: doc["headline"] for doc in derive_study(store, repeats=repeats)})
    rows = []
    for target in targets:
        for law in LAWS:
            names = arm_names(target, law, repeats)
            found = [n for n in names if n in headlines]
            heads = [headlines[n] for n in found]
            figures = {f: _mean([h.get(f) for h in heads]) for f in FIGURES}
            wh = [h["wh_per_request"] for h in heads if h.get("wh_per_request")]
            rows.append(MustShowRow(
                target=target, law=law, source="derived" if target in DERIVED else "measured", arms=tuple(found),
                completed=tuple(int(h.get("completed") or 0) for h in heads), figures=figures,
                wh_spread=max(wh) / min(wh) - 1.0 if len(wh) >= 2 else None,
                missing=tuple(n for n in names if n not in headlines),
                failed=tuple(failed[n] for n in names if n in failed and n not in headlines)))
    return rows


def _mean(values: Sequence[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return fmean(present) if present else None
