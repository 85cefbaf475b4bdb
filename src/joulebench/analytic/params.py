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

Energy, two models:

* "bound" (the default, and what the catalogue priors give): ``E = p_idle_w * t_total + p_compute_w *
  t_compute + p_memory_w * t_memory + p_launch_w * t_launch``, where the three active terms are the
  power *above idle* drawn while an operation is compute-bound, memory-bound or waiting on launches.
* "work" (when ``energy_per_flop_pj`` is set; what LLM calibration fits): ``E = p_idle_w * t_total +
  e_flop * FLOPs + e_byte * bytes + e_kernel * kernels``. Why: in eager decode most ops are
  launch-bound, yet their FLOPs and bytes still cost energy; the bound model books that time at
  ``p_launch_w`` and lets ``mu_memory`` (unidentifiable when launches hide memory time) distort the
  memory power. Energy per unit of work does not depend on which bound hid the work. On our H100 and
  H200 bf16 sweeps it cut held-out prefill energy MAPE from 28% to 4%
  (benchmarks/calibration_ablation.py, docs/VALIDATION.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.hardware.catalogue import Accelerator

OVERLAP_MODES = ("sum", "max")
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
class ModelParams:
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

    def __post_init__(self) -> None:
        if self.launch_overlap not in OVERLAP_MODES:
            raise UsageError(
                f"params.launch_overlap '{self.launch_overlap}' unknown; allowed: {', '.join(OVERLAP_MODES)}"
            )
        for name in ("mu_compute", "mu_memory"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.5:
                raise UsageError(f"params.{name} = {value} outside (0, 1.5]")
        if self.mu_attention is not None and not 0.0 < self.mu_attention <= 1.5:
            raise UsageError(f"params.mu_attention = {self.mu_attention} outside (0, 1.5] (or null)")
        for name in ("t_launch_s", "p_idle_w", "p_compute_w", "p_memory_w", "p_launch_w"):
            if getattr(self, name) < 0:
                raise UsageError(f"params.{name} = {getattr(self, name)} must be >= 0")
        work = [getattr(self, name) for name in WORK_ENERGY_FIELDS]
        if any(v is None for v in work) and any(v is not None for v in work):
            raise UsageError(f"params: set all of {', '.join(WORK_ENERGY_FIELDS)} or none of them")
        if any(v is not None and v < 0 for v in work):
            raise UsageError(f"params: {', '.join(WORK_ENERGY_FIELDS)} must be >= 0")

    @property
    def energy_model(self) -> str:
        """'work' when energies per FLOP, byte and kernel are set, else 'bound'."""
        return "bound" if self.energy_per_flop_pj is None else "work"

    @classmethod
    def defaults_for(cls, accelerator: Accelerator, dtype: str = "bf16") -> ModelParams:
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
        )

    def mu_for(self, category: str | None) -> float:
        """Compute efficiency of an op of ``category``: ``mu_attention`` for attention when set."""
        if category == "attention" and self.mu_attention is not None:
            return self.mu_attention
        return self.mu_compute

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: ModelParams | None = None) -> ModelParams:
        """Fields from ``data`` over ``base`` (or the class defaults); unknown keys are an error."""
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise UsageError(f"params key '{unknown[0]}' unknown; allowed: {', '.join(sorted(allowed))}")
        typed: dict[str, Any] = {}
        for key, value in data.items():
            if key == "launch_overlap":
                typed[key] = str(value)
            elif key in NULLABLE_FIELDS and value is None:  # YAML null: the field's "unset" meaning
                typed[key] = None
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError.bad(f"params.{key}", value, "must be a number")
            else:
                typed[key] = float(value)
        return replace(base or cls(), **typed)


def load_params(path: str | Path, base: ModelParams) -> ModelParams:
    """Read a calibration file (YAML or JSON) holding a ``params`` mapping; missing fields keep ``base``."""
    from joulebench.profiles import read_profile

    profile = read_profile(path)
    try:
        return ModelParams.from_dict(dict(profile.params), base=base)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, UsageError):
            raise UsageError(exc.reason, field=exc.field, value=exc.value, where=str(path)) from None
        raise UsageError(f"params: {exc}", where=str(path)) from None
