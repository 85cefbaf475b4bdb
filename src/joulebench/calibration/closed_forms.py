"""The study's per-model closed forms, fitted to stored measurements with 95% confidence intervals.

The study we reproduce summarises Llama-3.1-8B (float32, H100 SXM) with four empirical formulas::

    E_prefill = A*s + B                       t_prefill = alpha*s + beta*s^2 + gamma
    E_decode  = C*g + D*s*g + E0              t_decode  = eta*g + theta*s*g + phi*g^2 + rho

(s = prompt tokens, g = decode tokens). They do not transfer to another model or card, which is why
joulebench's own predictor is physical (see `llm_fit`); this module exists so that our measurements
can be put beside the study's numbers in the study's own terms, and so that a reader sees how well
(or badly) those forms describe the data.

Choices, and why:

* Ordinary least squares on absolute residuals, as the study's forms are usually fitted, so our
  coefficients are comparable with its. Intervals are ``t(0.975, n-p) * sqrt(diag(s^2 (X'X)^-1))``;
  they assume independent, equal-variance residuals, which long prompts (large absolute scatter)
  violate, so read them as a lower bound on the real uncertainty.
* A form is fitted only when the data identify it: the design matrix must have full column rank
  (enough *distinct* (s, g) points, not merely many repetitions of one). With exactly as many
  independent observations as coefficients the solution interpolates and there is no residual to
  estimate a CI from; it is reported as ``exact`` with no interval rather than as a fit. With fewer,
  the form is ``underdetermined`` and no coefficients are given — fitting it would invent numbers.
* Fits are in SI units (J, s), where the data are; energy coefficients are also given in Wh
  (J / 3600) because the study's figures are in Wh.
* Decode covers tokens 2..G of a request of G output tokens, so g = output_tokens - 1. The study
  measured decode as (full run - prefill-only run); its g may be the reply length G, which moves its
  intercepts by one token's worth: compare slopes before intercepts.
* Energies are the whole-component energy per repetition (idle included), as the study's meters
  report them; CPU and RAM energies may be estimates, and the result says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table
from rich.text import Text
from scipy import stats

from joulebench.errors import UsageError
from joulebench.store import Store

J_PER_WH = 3600.0
CONFIDENCE = 0.95

STATUS_FITTED = "fitted"
STATUS_EXACT = "exact"
STATUS_UNDERDETERMINED = "underdetermined"
STATUS_NO_DATA = "no data"

STUDY_CARD = "NVIDIA H100 SXM 80GB"  # the study's _about: "All on one NVIDIA H100 SXM 80GB unless noted"
STUDY_CASE = "case_I_thank_you"


@dataclass(frozen=True)
class FormSpec:
    """One closed form: which phase and quantity it describes and its regressors."""

    name: str
    phase: str  # "prefill" | "decode"
    quantity: str  # "energy" | "latency"
    equation: str
    coefs: tuple[str, ...]
    units: tuple[str, ...]  # SI units of each coefficient
    study_keys: tuple[str, ...]  # key of each coefficient in the study's energy_fit / latency_fit


FORMS: tuple[FormSpec, ...] = (
    FormSpec("E_prefill", "prefill", "energy", "E = A*s + B", ("A", "B"), ("J/token", "J"),
             ("A_Wh_per_token", "B_Wh")),
    FormSpec("E_decode", "decode", "energy", "E = C*g + D*s*g + E0", ("C", "D", "E0"),
             ("J/token", "J/token^2", "J"), ("C_Wh_per_token", "D_Wh_per_token2", "E0_Wh")),
    FormSpec("t_prefill", "prefill", "latency", "t = alpha*s + beta*s^2 + gamma", ("alpha", "beta", "gamma"),
             ("s/token", "s/token^2", "s"), ("alpha_s_per_token", "beta_s_per_token2", "gamma_s")),
    FormSpec("t_decode", "decode", "latency", "t = eta*g + theta*s*g + phi*g^2 + rho",
             ("eta", "theta", "phi", "rho"), ("s/token", "s/token^2", "s/token^2", "s"),
             ("eta_s_per_token", "theta_s_per_token2", "phi_s_per_token2", "rho_s")),
)


def _design(spec: FormSpec, s: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Regressor columns of a form, in the order of ``spec.coefs``."""
    one = np.ones_like(s)
    columns = {
        "E_prefill": (s, one),
        "E_decode": (g, s * g, one),
        "t_prefill": (s, s * s, one),
        "t_decode": (g, s * g, g * g, one),
    }[spec.name]
    return np.column_stack(columns)


@dataclass(frozen=True)
class Coefficient:
    """A fitted coefficient in SI units; ``ci95`` is the half-width of its 95% interval (None if exact)."""

    name: str
    value: float
    ci95: float | None
    stderr: float | None
    unit: str

    @property
    def is_energy(self) -> bool:
        return self.unit.startswith("J")

    def in_wh(self) -> tuple[float, float | None, str]:
        """(value, ci95, unit) in the study's units: Wh for energy coefficients, unchanged for times."""
        if not self.is_energy:
            return self.value, self.ci95, self.unit
        ci = None if self.ci95 is None else self.ci95 / J_PER_WH
        return self.value / J_PER_WH, ci, "Wh" + self.unit[1:]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _finite(self.value), "ci95": _finite(self.ci95),
                               "stderr": _finite(self.stderr), "unit": self.unit}
        if self.is_energy:
            v, ci, unit = self.in_wh()
            out |= {"value_wh": _finite(v), "ci95_wh": _finite(ci), "unit_wh": unit}
        return out


@dataclass(frozen=True)
class FormFit:
    """The outcome for one form: coefficients when identified, otherwise why not."""

    spec: FormSpec
    status: str
    message: str
    n: int  # observations used
    n_distinct: int  # distinct (s, g) design points among them
    dof: int  # residual degrees of freedom (n - p), 0 when exact or not fitted
    r2: float | None
    coefficients: dict[str, Coefficient] = field(default_factory=dict)
    points: tuple[tuple[int, int], ...] = ()  # distinct (s, g) used; g = 0 for prefill

    @property
    def identified(self) -> bool:
        return self.status in (STATUS_FITTED, STATUS_EXACT)

    def to_dict(self) -> dict[str, Any]:
        return {"equation": self.spec.equation, "phase": self.spec.phase, "quantity": self.spec.quantity,
                "status": self.status, "message": self.message, "n": self.n, "n_distinct": self.n_distinct,
                "dof": self.dof, "r2": _finite(self.r2),
                "coefficients": {k: c.to_dict() for k, c in self.coefficients.items()},
                "points_s_g": [list(p) for p in self.points]}


@dataclass(frozen=True)
class ClosedForms:
    """All four forms for one (model, dtype, component, batch), plus where the data came from."""

    model: str
    dtype: str
    component: str
    batch: int
    db_paths: tuple[str, ...]
    gpu_names: tuple[str, ...]
    component_estimated: bool  # True if any energy used was an estimate (CPU/RAM models)
    forms: dict[str, FormFit]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: NaN/inf become None, energy coefficients carry J and Wh."""
        return {"model": self.model, "dtype": self.dtype, "component": self.component, "batch": self.batch,
                "db_paths": list(self.db_paths), "gpu_names": list(self.gpu_names),
                "component_estimated": self.component_estimated,
                "g_definition": "decode tokens = output_tokens - 1 (tokens 2..G)",
                "confidence": CONFIDENCE,
                "forms": {k: f.to_dict() for k, f in self.forms.items()}}


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


# -- data ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Obs:
    phase: str
    s: int
    g: int
    latency_s: float
    energy_j: float | None
    estimated: bool


def _collect(db_paths: Iterable[str], model: str, dtype: str, component: str, batch: int
             ) -> tuple[list[_Obs], list[str]]:
    """Per-phase observations of matching ok LLM points, and the GPU names of their runs."""
    observations: list[_Obs] = []
    gpu_names: list[str] = []
    want = model.lower()
    for path in db_paths:
        with Store.open_existing(path) as store:
            runs = {r["id"]: r for r in store.runs()}
            for p in store.points(kind="llm", status="ok"):
                cfg = p.config
                if (str(cfg.get("model", "")).lower() != want or cfg.get("dtype") != dtype
                        or int(cfg.get("batch", 1)) != batch):
                    continue
                s = int(cfg["prompt_tokens"])
                g = int(cfg["output_tokens"]) - 1
                used = False
                for phase in ("prefill", "decode"):
                    doc = p.summary.get(phase)
                    if not isinstance(doc, Mapping) or doc.get("latency_s") is None:
                        continue
                    if phase == "decode" and g < 1:
                        continue
                    energy = (doc.get("energy_j") or {}).get(component)
                    estimated = bool((doc.get("estimated") or {}).get(component, False))
                    observations.append(_Obs(phase, s, g if phase == "decode" else 0, float(doc["latency_s"]),
                                             None if energy is None else float(energy), estimated))
                    used = True
                if used:
                    gpus = (runs.get(p.run_id, {}).get("env") or {}).get("gpus") or []
                    name = gpus[0].get("name") if gpus else None
                    if name and name not in gpu_names:
                        gpu_names.append(name)
    return observations, gpu_names


# -- fitting ------------------------------------------------------------------------------------

def fit_form(spec: FormSpec, s: Sequence[float], g: Sequence[float], y: Sequence[float]) -> FormFit:
    """OLS of one form on (s, g, y) with t-based 95% intervals, or the reason it is not identified.

    Columns are scaled to unit norm before solving because s^2 reaches 1e7 while the intercept
    column is 1; without it the rank test and (X'X)^-1 are at the mercy of rounding."""
    s_arr, g_arr, y_arr = (np.asarray(v, dtype=float) for v in (s, g, y))
    p = len(spec.coefs)
    n = int(y_arr.size)
    distinct = tuple(sorted({(int(a), int(b)) for a, b in zip(s_arr, g_arr, strict=True)}))
    if n == 0:
        return FormFit(spec, STATUS_NO_DATA, f"no {spec.phase} points with this quantity", 0, 0, 0, None)
    x = _design(spec, s_arr, g_arr)
    norms = np.linalg.norm(x, axis=0)
    norms[norms == 0] = 1.0
    xs = x / norms
    rank = int(np.linalg.matrix_rank(xs, tol=1e-10 * max(1.0, float(np.linalg.norm(xs, 2)))))
    if rank < p:
        why = (f"{p} coefficients but the {len(distinct)} distinct (s, g) point(s) only determine {rank}: "
               f"{_describe(spec, distinct)}; not fitted")
        return FormFit(spec, STATUS_UNDERDETERMINED, why, n, len(distinct), 0, None, points=distinct)
    beta_s, *_ = np.linalg.lstsq(xs, y_arr, rcond=None)
    beta = beta_s / norms
    resid = y_arr - x @ beta
    rss = float(resid @ resid)
    tss = float(((y_arr - y_arr.mean()) ** 2).sum())
    r2 = 1.0 - rss / tss if tss > 0 else None
    dof = n - p
    if dof == 0:
        coefs = {c: Coefficient(c, float(b), None, None, u) for c, b, u in zip(spec.coefs, beta, spec.units,
                                                                                strict=True)}
        return FormFit(spec, STATUS_EXACT, f"exactly determined ({n} observations, {p} coefficients): the "
                       "curve passes through the points, no residual to estimate an interval from",
                       n, len(distinct), 0, None, coefs, distinct)
    sigma2 = rss / dof
    cov_s = sigma2 * np.linalg.inv(xs.T @ xs)
    se = np.sqrt(np.clip(np.diag(cov_s), 0.0, None)) / norms
    tq = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof))
    coefs = {c: Coefficient(c, float(b), float(tq * e), float(e), u)
             for c, b, e, u in zip(spec.coefs, beta, se, spec.units, strict=True)}
    message = f"OLS, {n} observations at {len(distinct)} distinct points, {dof} residual dof"
    if len(distinct) == p:
        message += ("; saturated (as many distinct points as coefficients): the interval reflects only "
                    "repeat scatter, not whether the form fits")
    return FormFit(spec, STATUS_FITTED, message, n, len(distinct), dof, r2, coefs, distinct)


def _describe(spec: FormSpec, distinct: Sequence[tuple[int, int]]) -> str:
    if spec.phase == "prefill":
        return "s = " + ", ".join(str(s) for s, _ in distinct)
    return "(s, g) = " + ", ".join(f"({s}, {g})" for s, g in distinct)


def fit_closed_forms(db_paths: list[str], model: str, dtype: str, component: str = "gpu",
                     batch: int = 1) -> ClosedForms:
    """Fit the study's four closed forms to every matching ok LLM point of the given databases.

    Points match on model (case-insensitive), dtype and batch; all databases are pooled, so repeats of
    a configuration across runs count as separate observations. Energy forms use ``component``'s
    energy (J per repetition); a form that the points cannot identify is reported, not fitted.
    Raises UsageError when no point matches at all, because an empty table would look like a result."""
    observations, gpu_names = _collect(db_paths, model, dtype, component, batch)
    if not observations:
        raise UsageError(f"no stored ok LLM points for model {model}, dtype {dtype}, batch {batch} "
                         f"in {', '.join(db_paths)}")
    forms: dict[str, FormFit] = {}
    for spec in FORMS:
        obs = [o for o in observations if o.phase == spec.phase
               and (spec.quantity == "latency" or o.energy_j is not None)]
        y = [o.latency_s if spec.quantity == "latency" else float(o.energy_j or 0.0) for o in obs]
        forms[spec.name] = fit_form(spec, [o.s for o in obs], [o.g for o in obs], y)
    estimated = any(o.estimated for o in observations if o.energy_j is not None)
    return ClosedForms(model, dtype, component, batch, tuple(db_paths), tuple(gpu_names), estimated, forms)


# -- the study ----------------------------------------------------------------------------------

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
