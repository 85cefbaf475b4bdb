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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joulebench.calibration.fits import CONFIDENCE, t_quantile, weighted_lstsq
from joulebench.errors import UsageError
from joulebench.store import Store

J_PER_WH = 3600.0

STATUS_FITTED = "fitted"
STATUS_EXACT = "exact"
STATUS_UNDERDETERMINED = "underdetermined"
STATUS_NO_DATA = "no data"


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
        with Store.open_read(path) as store:
            runs = {r.id: r for r in store.runs()}
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
                    gpus = (runs[p.run_id].env if p.run_id in runs else {}).get("gpus") or []
                    name = gpus[0].get("name") if gpus else None
                    if name and name not in gpu_names:
                        gpu_names.append(name)
    return observations, gpu_names


# -- fitting ------------------------------------------------------------------------------------

def fit_form(spec: FormSpec, s: Sequence[float], g: Sequence[float], y: Sequence[float]) -> FormFit:
    """OLS of one form on (s, g, y) with t-based 95% intervals, or the reason it is not identified.

    The arithmetic (columns scaled to unit norm, rank test, ``s^2 (X'X)^-1``) is the one helper of
    `calibration.fits`: s^2 reaches 1e7 while the intercept column is 1."""
    s_arr, g_arr, y_arr = (np.asarray(v, dtype=float) for v in (s, g, y))
    p = len(spec.coefs)
    n = int(y_arr.size)
    distinct = tuple(sorted({(int(a), int(b)) for a, b in zip(s_arr, g_arr, strict=True)}))
    if n == 0:
        return FormFit(spec, STATUS_NO_DATA, f"no {spec.phase} points with this quantity", 0, 0, 0, None)
    x = _design(spec, s_arr, g_arr)
    fit = weighted_lstsq(x, y_arr)
    if not fit.identified:
        why = (f"{p} coefficients but the {len(distinct)} distinct (s, g) point(s) only determine {fit.rank}: "
               f"{_describe(spec, distinct)}; not fitted")
        return FormFit(spec, STATUS_UNDERDETERMINED, why, n, len(distinct), 0, None, points=distinct)
    tss = float(((y_arr - y_arr.mean()) ** 2).sum())
    r2 = 1.0 - fit.rss / tss if tss > 0 else None
    if fit.dof == 0:
        coefs = {c: Coefficient(c, float(b), None, None, u) for c, b, u in zip(spec.coefs, fit.coef, spec.units,
                                                                                strict=True)}
        return FormFit(spec, STATUS_EXACT, f"exactly determined ({n} observations, {p} coefficients): the "
                       "curve passes through the points, no residual to estimate an interval from",
                       n, len(distinct), 0, None, coefs, distinct)
    tq = t_quantile(fit.dof, CONFIDENCE)
    coefs = {c: Coefficient(c, float(b), float(tq * e), float(e), u)
             for c, b, e, u in zip(spec.coefs, fit.coef, fit.stderr, spec.units, strict=True)}
    message = f"OLS, {n} observations at {len(distinct)} distinct points, {fit.dof} residual dof"
    if len(distinct) == p:
        message += ("; saturated (as many distinct points as coefficients): the interval reflects only "
                    "repeat scatter, not whether the form fits")
    return FormFit(spec, STATUS_FITTED, message, n, len(distinct), fit.dof, r2, coefs, distinct)


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


__all__ = [
    "FORMS", "ClosedForms", "Coefficient", "FormFit", "FormSpec", "fit_closed_forms", "fit_form",
]
