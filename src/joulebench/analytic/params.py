"""Every tunable constant of the time and energy model, in one frozen value.

Why one place: the calibration issue fits these by least squares on measurements and hands them
back as a file (``--calibration FILE``, YAML or JSON with a ``params`` mapping). Anything that a
fit may change lives here; structure (which ops exist, their FLOPs and bytes) does not.

Time of one operation (see ``analytic.roofline``)::

    t_gpu    = max(F / (mu * F_peak), D / (mu_memory * B_peak))
    mu       = mu_attention for attention ops (category "attention") when set, else mu_compute
    t_launch = n_kernels * t_launch_s                       (0 with CUDA graphs / compiled)
    t        = t_gpu + t_launch        if launch_overlap == "sum"
             = max(t_gpu, t_launch)    if launch_overlap == "max"

Plus ``t_step_s`` per forward (cost model v2): host time of one ``generate`` step that no GPU work
hides (Python, stopping criteria, the CUDA-graph replay). Measured static-cache + compiled decode took
7.09 ms a token against a 3.3 ms weight-reading floor (DESIGN.md): without launches, that gap is
this term.

Cost models (``cost_model``): "v1" is the model every profile before the field was fitted with
(dense attention time, no tiles, the "bound" energy model when uncalibrated); "v2" prices time on
executed FLOPs (`ops.Op.exec_flops`: tile and wave quantization, causal attention blocks) and
replaces the bound energy model by the continuous one. A profile without the field is read as v1
(`load_params`), so that it reproduces its own stored predictions exactly.

Energy, three models:

* "bound" (v1 without work energies): ``E = p_idle_w * t_total + p_compute_w *
  t_compute + p_memory_w * t_memory + p_launch_w * t_launch``, where the three active terms are the
  power *above idle* drawn while an operation is compute-bound, memory-bound or waiting on launches.
  It jumps where an op switches bound (+29% for one more token at the crossover).
* "continuous" (v2 without work energies): per op, with busy times ``c = F/(mu F_peak)``,
  ``m = D/(mu_m B_peak)`` and ``g = max(c, m)``, ``E_active = p_memory_w * g + (p_compute_w -
  p_memory_w) * c + p_launch_w * (t - g)``: the same powers, weighted by how busy the compute units
  are. It equals the bound model deep in either regime and is continuous at the crossover.
* "work" (when ``energy_per_flop_pj`` is set; what LLM calibration fits): ``E = p_idle_w * t_total +
  e_flop * FLOPs + e_byte * bytes + e_kernel * kernels``. Why: in eager decode most ops are
  launch-bound, yet their FLOPs and bytes still cost energy; the bound model books that time at
  ``p_launch_w`` and lets ``mu_memory`` (unidentifiable when launches hide memory time) distort the
  memory power. Energy per unit of work does not depend on which bound hid the work. On our H100 and
  H200 bf16 sweeps it cut held-out prefill energy MAPE from 28% to 4%
  (benchmarks/calibration_ablation.py, docs/VALIDATION.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware.catalogue import Accelerator
from joulebench.values import AsDict

OVERLAP_MODES = ("sum", "max")
COST_MODELS = ("v1", "v2")
LATEST_COST_MODEL = "v2"
LEGACY_COST_MODEL = "v1"  # what a profile without ``cost_model`` was fitted with
MU_FIELDS = ("mu_compute", "mu_memory", "mu_attention")
WORK_ENERGY_FIELDS = ("energy_per_flop_pj", "energy_per_byte_pj", "energy_per_kernel_uj")
NULLABLE_FIELDS = ("mu_attention", *WORK_ENERGY_FIELDS)

# Derivation of the default launch time: DESIGN.md measured eager transformers decode of
# Llama-3.1-8B (bf16, batch 1, H200) at about 21 ms per token against 3.3 ms of weight reading.
# Our op model counts 1,355 eager kernels per bf16 decode step (32 layers x 42 + head and
# sampling) and 4.05 ms of GPU time, so (21 - 4.05) ms / 1355 ~= 12.5 us. One point, one machine:
# calibrate. (Check, not fit: the same constant gives 23.4 ms for fp32 there, measured about 24.)
DEFAULT_T_LAUNCH_S = 12.5e-6

# Typical achievable fractions of the datasheet peaks (large GEMMs reach 60-80% of dense tensor
# peak; streaming copies reach 80-90% of HBM bandwidth). Priors, not measurements.
DEFAULT_MU_COMPUTE = 0.7
DEFAULT_MU_MEMORY = 0.8

# Active power above idle, as fractions of (TDP - idle): compute-bound work runs near the power
# limit, streaming memory draws less, a GPU waiting on kernel launches draws little.
FRACTION_COMPUTE = 1.0
FRACTION_MEMORY = 0.6
FRACTION_LAUNCH = 0.15

DEFAULTS_UNCERTAINTY = (
    "catalogue defaults: mu and power fractions are generic priors and t_launch_s comes from one "
    "measured point (DESIGN.md); expect about +-30% on latency and +-40% on energy until calibrated"
)


@dataclass(frozen=True)
class ModelParams(AsDict):
    """Tunable constants of the roofline + launch + energy model (SI units)."""

    mu_compute: float = DEFAULT_MU_COMPUTE  # achievable fraction of peak FLOP/s
    mu_memory: float = DEFAULT_MU_MEMORY  # achievable fraction of peak memory bandwidth
    t_launch_s: float = DEFAULT_T_LAUNCH_S  # host-side cost per eager kernel launch
    launch_overlap: str = "sum"  # "sum": launch time adds to GPU time; "max": per op, the larger wins
    p_idle_w: float = 0.0  # board power with nothing running
    p_compute_w: float = 0.0  # extra power (above idle) while compute-bound
    p_memory_w: float = 0.0  # extra power (above idle) while memory-bound
    p_launch_w: float = 0.0  # extra power (above idle) while launch-bound
    # achievable fraction of peak FLOP/s for attention score/value ops (category "attention");
    # None: the same as mu_compute (one efficiency for every op, the behaviour before the field)
    mu_attention: float | None = None
    # the "work" energy model (module docstring): all three set, or none (the "bound" model)
    energy_per_flop_pj: float | None = None  # picojoules per FLOP
    energy_per_byte_pj: float | None = None  # picojoules per byte moved to or from device memory
    energy_per_kernel_uj: float | None = None  # microjoules per kernel launched
    # which time/energy model the constants belong to (module docstring); the dataclass default is
    # the legacy one so that values built field by field (old profiles, the video fit) keep their
    # meaning; the LLM predictor asks for LATEST_COST_MODEL when nothing else is said
    cost_model: str = LEGACY_COST_MODEL
    t_step_s: float = 0.0  # host time per forward that no GPU work hides (v2)

    def __post_init__(self) -> None:
        """Physical bounds: an efficiency above 1 would predict below the FLOP or bandwidth floor and a
        negative energy is no energy; a profile breaking them is refused, naming the field."""
        if self.launch_overlap not in OVERLAP_MODES:
            raise UsageError.bad("params.launch_overlap", self.launch_overlap,
                                 f"unknown; allowed: {', '.join(OVERLAP_MODES)}")
        if self.cost_model not in COST_MODELS:
            raise UsageError.bad("params.cost_model", self.cost_model, f"unknown; allowed: {', '.join(COST_MODELS)}")
        for name in MU_FIELDS:
            value = getattr(self, name)
            if value is None and name == "mu_attention":
                continue
            if not 0.0 < float(value) <= 1.0:
                raise UsageError.bad(f"params.{name}", value,
                                     "outside (0, 1]: an efficiency above 1 predicts below the physical floor")
        for name in ("t_launch_s", "t_step_s", "p_idle_w", "p_compute_w", "p_memory_w", "p_launch_w"):
            if getattr(self, name) < 0:
                raise UsageError.bad(f"params.{name}", getattr(self, name), "must be >= 0")
        work = [getattr(self, name) for name in WORK_ENERGY_FIELDS]
        if any(v is None for v in work) and any(v is not None for v in work):
            raise UsageError(f"params: set all of {', '.join(WORK_ENERGY_FIELDS)} or none of them")
        for name, value in zip(WORK_ENERGY_FIELDS, work, strict=True):
            if value is not None and value < 0:
                raise UsageError.bad(f"params.{name}", value, "must be >= 0 (energies are never negative)")

    @property
    def energy_model(self) -> str:
        """'work' when energies per FLOP, byte and kernel are set, else 'bound' (v1) or 'continuous' (v2)."""
        if self.energy_per_flop_pj is not None:
            return "work"
        return "bound" if self.cost_model == LEGACY_COST_MODEL else "continuous"

    def check_idle(self, accelerator: Accelerator, where: str | None = None) -> None:
        """Idle power within the catalogue's plausible range for the card (`Accelerator.idle_power_range_w`)."""
        lo, hi = accelerator.idle_power_range_w
        if not lo <= self.p_idle_w <= hi:
            raise UsageError.bad("params.p_idle_w", self.p_idle_w,
                                 f"outside {accelerator.name}'s plausible idle range [{lo:g}, {hi:g}] W", where)

    @classmethod
    def defaults_for(cls, accelerator: Accelerator, dtype: str = "bf16",
                     cost_model: str = LEGACY_COST_MODEL) -> ModelParams:
        """Priors from the catalogue row: idle power as listed, active power as fractions of TDP-idle.

        ``dtype`` is accepted so that per-precision priors can be added without changing callers;
        today the priors are the same for every dtype.
        """
        del dtype
        active_w = max(accelerator.tdp_w - accelerator.idle_power_w, 0.0)
        return cls(
            p_idle_w=accelerator.idle_power_w,
            p_compute_w=FRACTION_COMPUTE * active_w,
            p_memory_w=FRACTION_MEMORY * active_w,
            p_launch_w=FRACTION_LAUNCH * active_w,
            cost_model=cost_model,
        )

    def mu_for(self, category: str | None) -> float:
        """Compute efficiency of an op of ``category``: ``mu_attention`` for attention when set."""
        if category == "attention" and self.mu_attention is not None:
            return self.mu_attention
        return self.mu_compute

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: ModelParams | None = None) -> ModelParams:
        """Fields from ``data`` over ``base`` (or the class defaults); unknown keys are an error."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise UsageError(f"params key '{unknown[0]}' unknown; allowed: {', '.join(sorted(allowed))}")
        typed: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("launch_overlap", "cost_model"):
                typed[key] = str(value)
            elif key in NULLABLE_FIELDS and value is None:  # YAML null: the field's "unset" meaning
                typed[key] = None
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError.bad(f"params.{key}", value, "must be a number")
            else:
                typed[key] = float(value)
        return replace(base or cls(), **typed)


def params_from_mapping(params: dict[str, Any], base: ModelParams, where: str | None = None,
                        accelerator: Accelerator | None = None) -> ModelParams:
    """A profile's ``params`` over ``base``, bounds checked: no ``cost_model`` means the legacy one
    (the profile was fitted before the field existed); with ``accelerator``, idle power is checked
    against the card's plausible range."""
    data = dict(params)
    data.setdefault("cost_model", LEGACY_COST_MODEL)
    try:
        out = ModelParams.from_dict(data, base=base)
        if accelerator is not None:
            out.check_idle(accelerator)
        return out
    except (TypeError, ValueError) as exc:
        if isinstance(exc, UsageError):
            raise UsageError(exc.reason, field=exc.field, value=exc.value, where=where) from None
        raise UsageError(f"params: {exc}", where=where) from None


def load_params(path: str | Path, base: ModelParams, accelerator: Accelerator | None = None) -> ModelParams:
    """Read a calibration file (YAML or JSON) holding a ``params`` mapping; missing fields keep ``base``
    (except ``cost_model``: see `params_from_mapping`). The file is read by `joulebench.profiles`."""
    from joulebench.profiles import read_profile

    profile = read_profile(path)
    return params_from_mapping(dict(profile.params), base, str(path), accelerator)
