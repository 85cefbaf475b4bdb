"""Resolve a model reference to a Hugging Face config dict.

A reference is one of: a bundled architecture name (``llama-3.1-8b``; configs under
``joulebench/configs/models``, copied from the published ``config.json``), a hub id
(``meta-llama/Llama-3.1-8B-Instruct``) or a local directory holding ``config.json``.
Hub ids that a bundled config names in ``_hub_ids`` resolve to that config when the hub cannot be
reached, so that random-weight experiments run with no network. The predictor and the workloads
share this one resolver, so that both always see the same architecture for the same name.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from joulebench.errors import UsageError
from joulebench.files import read_mapping

_CONFIG_PACKAGE = "joulebench.configs"


@dataclass(frozen=True)
class ModelRef:
    """Where a config came from: ``kind`` is ``bundled``, ``local`` or ``hub``."""

    name: str
    kind: str
    config: dict[str, Any]
    path: str | None = None  # local directory or bundled folder (tokenizer files may lie there)
    #: one line for the user when the reference did not resolve the obvious way (hub unreachable)
    note: str | None = None


def _config_dir(subdir: str) -> Path:
    return Path(str(resources.files(_CONFIG_PACKAGE).joinpath(subdir)))


@cache
def bundled_configs(subdir: str = "models") -> dict[str, dict[str, Any]]:
    """All bundled configs of one family folder, by lowercase name."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(_config_dir(subdir).glob("*.json")):
        out[path.stem] = json.loads(path.read_text())
    return out


def bundled_names(subdir: str = "models") -> list[str]:
    return sorted(bundled_configs(subdir))


def _hub_aliases(subdir: str) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for name, cfg in bundled_configs(subdir).items():
        for hub_id in cfg.get("_hub_ids", []):
            aliases[hub_id.lower()] = name
    return aliases


def _clean(cfg: dict[str, Any]) -> dict[str, Any]:
    """Drop joulebench's own bookkeeping keys (those starting with ``_``)."""
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def hub_reachable(timeout_s: float = 1.5) -> bool:
    """Whether the Hugging Face hub answers here (cached per process; ``HF_HUB_OFFLINE=1`` says no).

    Why a probe of our own: ``huggingface_hub`` retries an unreachable hub with back-off, which cost
    ~26 s of retry lines per id before the bundled fallback; one TCP connect answers in ~1 s."""
    global _HUB
    if _HUB is None:
        if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
            _HUB = False
        else:
            host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
            try:
                with socket.create_connection((host.split(":")[0], 443), timeout=timeout_s):
                    _HUB = True
            except OSError:
                _HUB = False
    return _HUB


_HUB: bool | None = None


def _read_config(path: Path, reference: str) -> dict[str, Any]:
    data = read_mapping(path, "model")
    if not isinstance(data.get("model_type", ""), str):
        raise UsageError.bad("model", reference, "its config.json has a 'model_type' that is not text", where=str(path))
    return data


def resolve(reference: str, subdir: str = "models", allow_hub: bool = True) -> ModelRef:
    """Resolve ``reference`` to a config; raise `UsageError` listing bundled names when unknown."""
    key = reference.strip()
    bundled = bundled_configs(subdir)
    if key.lower() in bundled:
        name = key.lower()
        return ModelRef(name, "bundled", _clean(bundled[name]), str(_config_dir(subdir)))
    local = Path(key).expanduser()
    if not key:
        raise UsageError.bad("model", reference, f"empty model name; bundled: {', '.join(bundled_names(subdir))}")
    if local.is_dir() and (local / "config.json").is_file():
        return ModelRef(key, "local", _read_config(local / "config.json", key), str(local))
    if local.is_file() and local.suffix == ".json":
        return ModelRef(key, "local", _read_config(local, key), str(local.parent))
    alias = _hub_aliases(subdir).get(key.lower())
    reachable = "/" in key and allow_hub and hub_reachable()
    if reachable:
        hub_cfg = _try_hub(key)
        if hub_cfg is not None:
            return ModelRef(key, "hub", hub_cfg)
    if alias is not None:
        why = "the hub is unreachable" if not reachable else "its config could not be fetched"
        note = f"{key}: {why}; using the bundled config '{alias}' (random weights)"
        return ModelRef(alias, "bundled", _clean(bundled[alias]), str(_config_dir(subdir)), note=note)
    raise UsageError.bad(
        "model", reference,
        f"unknown: not a bundled name, a local folder with config.json, or a reachable hub id; bundled: "
        f"{', '.join(bundled_names(subdir))}")


def _try_hub(repo_id: str) -> dict[str, Any] | None:
    """Fetch ``config.json`` from the hub; None when the hub is unreachable or the id unknown."""
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(repo_id, "config.json")
    except Exception:  # noqa: BLE001 - any hub failure means "not available here"
        return None
    try:
        return _read_config(Path(path), repo_id)
    except UsageError:
        return None
