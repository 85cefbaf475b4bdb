"""The in-process serving engines by name, and the one door that opens one (`open_engine`).

Its own module, above the engines, so that each engine imports the parts they share (`engine`: the
config, the dispatcher, the loader) and nothing imports back."""

from __future__ import annotations

from typing import Any

from joulebench.workloads.cb_engine import ContinuousBatchingEngine
from joulebench.workloads.engine import EngineConfig
from joulebench.workloads.sequential_engine import SequentialEngine

#: `EngineConfig.engine` (one of `engine.ENGINES`) -> the engine's class
ENGINE_CLASSES: dict[str, type] = {"transformers": ContinuousBatchingEngine, "sequential": SequentialEngine}


def open_engine(config: EngineConfig, loaded: Any | None = None) -> Any:
    """The engine named by ``config.engine``, its model loaded (or the given ``LoadedModel`` reused)."""
    config.validate()
    return ENGINE_CLASSES[config.engine](config, loaded)
