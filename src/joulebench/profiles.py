"""Calibration profiles: the one reader and writer, for LLM and video profiles alike.

A profile is a YAML file that ``predict --calibration`` reads (its ``params`` mapping of
`analytic.ModelParams` fields) and that records where the numbers came from (GPU, driver, engine,
dtype, library versions, points used, uncertainties, training error). The calibration commands write
it; ``predict``, ``validate`` and the video predictor read it - all through this module, so that a
profile is checked the same way wherever it enters (safe YAML, mapping types, the params' bounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.files import read_mapping


@dataclass(frozen=True)
class Profile:
    """A calibration profile as read from its file; ``document`` keeps every field it holds."""

    name: str
    params: Mapping[str, Any]
    gpu: Mapping[str, Any] = field(default_factory=dict)
    engine: str | None = None
    dtype: str | None = None  # canonical name (`hardware.dtypes`)
    kind: str = "llm"  # "llm" | "video"
    document: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def catalogue_name(self) -> str | None:
        value = self.gpu.get("catalogue_name")
        return str(value) if value is not None else None

    @classmethod
    def from_document(cls, data: Mapping[str, Any], source: str, field_name: str = "calibration") -> Profile:
        params = data.get("params")
        if not isinstance(params, dict):
            raise UsageError.bad(field_name, source, "not a calibration profile: no 'params' mapping")
        gpu = data.get("gpu") or {}
        if not isinstance(gpu, dict):
            raise UsageError.bad(field_name, source, "'gpu' must be a mapping")
        dtype = data.get("dtype")
        if dtype is not None:
            from joulebench.hardware.dtypes import canonical

            dtype = canonical(dtype, "dtype")
        return cls(
            name=str(data.get("profile") or Path(source).stem),
            params=dict(params),
            gpu=dict(gpu),
            engine=None if data.get("engine") is None else str(data["engine"]),
            dtype=dtype,
            kind=str(data.get("kind") or ("video" if "video" in str(data.get("profile", "")) else "llm")),
            document=dict(data),
            path=source,
        )


def read_profile(path: str | Path, field_name: str = "calibration") -> Profile:
    """Read and check a profile file (YAML or JSON); `UsageError` naming the file when it is not one."""
    data = read_mapping(path, field_name)
    try:
        return Profile.from_document(data, str(path), field_name)
    except UsageError as exc:
        if exc.where is None and exc.field != field_name:
            raise UsageError(exc.reason, field=exc.field, value=exc.value, where=str(path)) from None
        raise


def write_profile(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write atomically (a partial file never replaces a good one)."""
    import yaml

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".partial")
    tmp.write_text(yaml.safe_dump(_plain(document), sort_keys=False))
    tmp.replace(out)
    return out


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays, tuples and dataclass-like values as plain YAML types."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    return value
