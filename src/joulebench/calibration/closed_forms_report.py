"""The study's side of the closed forms: its reference figures, how its conditions differ from ours, and
the rich table that puts our fitted coefficients beside its (``joulebench fit``)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from joulebench.calibration.closed_forms import FORMS, STATUS_FITTED
from joulebench.errors import UsageError

if TYPE_CHECKING:
    from joulebench.calibration.closed_forms import ClosedForms, FormSpec

STUDY_CARD = "NVIDIA H100 SXM 80GB"  # the study's _about: "All on one NVIDIA H100 SXM 80GB unless noted"
STUDY_CASE = "case_I_thank_you"


def load_study_reference(path: str | Path | None = None) -> dict[str, Any] | None:
    """The study's case I figures (`seed_figures.json`), or None when the file is not there.

    Without ``path`` it looks for ``../shared/reference/seed_figures.json`` beside the checkout (where
    CI keeps a read-only copy), first relative to this source tree, then to the working directory.
    The table works without it, so absence is not an error; a present but unreadable file is."""
    if path is not None:
        candidates = [Path(path)]
    else:
        repo = Path(__file__).resolve().parents[3]
        rel = Path("..") / "shared" / "reference" / "seed_figures.json"
        candidates = [repo / rel, Path.cwd() / rel]
    for candidate in candidates:
        if candidate.is_file():
            try:
                doc = json.loads(candidate.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise UsageError(f"study reference {candidate}: cannot read ({exc})") from exc
            case = doc.get(STUDY_CASE) if isinstance(doc, Mapping) else None
            return dict(case) if isinstance(case, Mapping) else None
    return None


def _study_case(study: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """Accept either the whole seed_figures document or its case I entry."""
    if study is None:
        return None
    case = study.get(STUDY_CASE, study)
    return case if isinstance(case, Mapping) else None


def _norm_model(name: str) -> str:
    return name.lower().removesuffix("-instruct")


def study_differences(cf: ClosedForms, case: Mapping[str, Any]) -> list[str]:
    """How the study's conditions differ from ours, so nobody reads a card or dtype gap as an error."""
    diffs: list[str] = []
    study_model = str(case.get("model", ""))
    if study_model and _norm_model(study_model) != _norm_model(cf.model):
        diffs.append(f"model ({study_model} vs {cf.model})")
    study_dtype = case.get("dtype")
    if study_dtype and study_dtype != cf.dtype:
        diffs.append(f"dtype ({study_dtype} vs {cf.dtype})")
    study_card = str(case.get("gpu", STUDY_CARD))
    ours = ", ".join(cf.gpu_names) or "unknown card"
    if not cf.gpu_names or any(not _same_card(study_card, n) for n in cf.gpu_names):
        diffs.append(f"card ({study_card} vs {ours})")
    study_batch = case.get("batch")
    if study_batch is not None and int(study_batch) != cf.batch:
        diffs.append(f"batch ({study_batch} vs {cf.batch})")
    if cf.component != "gpu":
        diffs.append(f"the study's fits are GPU energy, ours is {cf.component}")
    return diffs


def _same_card(study_card: str, ours: str) -> bool:
    """H100 SXM vs 'NVIDIA H100 80GB HBM3' are the same part; H100 PCIe or H200 are not."""
    a, b = study_card.lower(), ours.lower()
    if "h100" not in a or "h100" not in b:
        return a == b
    return "pcie" not in b and "nvl" not in b


def _study_value(case: Mapping[str, Any] | None, spec: FormSpec, key: str) -> float | None:
    if case is None:
        return None
    block = case.get("energy_fit" if spec.quantity == "energy" else "latency_fit") or {}
    value = block.get(key)
    return float(value) if isinstance(value, int | float) else None


def study_coefficient(study: Mapping[str, Any] | None, form: str, coef: str) -> float | None:
    """The study's value of one coefficient of one form (Wh for energies, s for times), None if absent."""
    spec = next(f for f in FORMS if f.name == form)
    key = dict(zip(spec.coefs, spec.study_keys, strict=True))[coef]
    return _study_value(_study_case(study), spec, key)


def _fmt(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.3g}"


def render_table(cf: ClosedForms, study: Mapping[str, Any] | None = None) -> Table:
    """Each coefficient: ours ± 95% CI in the study's units (Wh for energy), energies also in J, the study's.

    The study column appears only when ``study`` (case I, or the whole seed_figures document) is given;
    the caption lists every condition that differs (card, dtype, model, batch) because the study's
    coefficients are per-model, per-card and per-dtype and are not expected to match ours."""
    case = _study_case(study)
    cards = ", ".join(cf.gpu_names) or "unknown card"
    table = Table(title=f"Closed forms: {cf.model} {cf.dtype} batch {cf.batch} on {cards} ({cf.component})")
    table.add_column("form")
    table.add_column("coef")
    table.add_column("ours ± 95% CI", justify="right")
    table.add_column("unit")
    table.add_column("ours (J)", justify="right")
    if case is not None:
        table.add_column("study", justify="right")
        table.add_column("ours/study", justify="right")
    blank = ("", "") if case is not None else ()
    for spec in FORMS:
        fit = cf.forms[spec.name]
        r2 = "" if fit.r2 is None else f", R²={fit.r2:.4f}"
        header = f"{spec.name}: {spec.equation}"
        info = f"{fit.status}: n={fit.n} ({fit.n_distinct} distinct){r2}"
        table.add_row(f"[bold]{header}[/bold]", "", info, "", "", *blank)
        if fit.status != STATUS_FITTED:
            style = "dim" if fit.identified else "yellow"
            table.add_row("", "", Text(fit.message, style=style), "", "", *blank)
        for coef_name, unit_si, key in zip(spec.coefs, spec.units, spec.study_keys, strict=True):
            study_v = _study_value(case, spec, key)
            coef = fit.coefficients.get(coef_name)
            if coef is None:
                ours = "not identified"
                unit = unit_si.replace("J", "Wh", 1) if unit_si.startswith("J") else unit_si
                si = "—"
                ratio = "—"
            else:
                v, ci, unit = coef.in_wh()
                ours = _fmt(v) + ("" if ci is None else f" ± {_fmt(ci)}")
                si = f"{_fmt(coef.value)} {coef.unit}" if coef.is_energy else "—"
                ratio = _fmt(v / study_v) if study_v not in (None, 0.0) else "—"
            extra = (_fmt(study_v), ratio) if case is not None else ()
            table.add_row("", coef_name, ours, unit, si, *extra)
    notes = ["g = output_tokens - 1 (decode = tokens 2..G)",
             "CI: OLS, t-distribution, equal-variance residuals"]
    if cf.component_estimated:
        notes.append(f"{cf.component} energy is partly estimated, not metered")
    if case is not None:
        diffs = study_differences(cf, case)
        head = f"study: {case.get('model', '?')} {case.get('dtype', '?')} on {case.get('gpu', STUDY_CARD)}"
        notes.append(head + ("; differs in " + ", ".join(diffs) + ": compare magnitudes, not values"
                             if diffs else ""))
    table.caption = "; ".join(notes)
    return table
