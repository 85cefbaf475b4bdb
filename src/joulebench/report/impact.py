"""What an energy per request means at scale: kWh/day, equivalent households, gCO2e by grid, cost.

Joules inside; kWh only here at the edge, through `joulebench.units`. The facility overhead is a
parameter (PUE: facility energy / IT energy; 1.0 = the metered IT energy alone, the default, so that no
assumed overhead hides in a figure). Grid carbon intensities and household consumption come from
cited tables bundled with the package (``configs/impact/*.json``: the source, year and unit are kept
in each file and printed with every figure); an optional live intensity (Great Britain's public
Carbon Intensity API) is only consulted when asked for, and its failure falls back to the table with
a note.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from joulebench.errors import UsageError
from joulebench.units import j_to_kwh

#: Great Britain's national grid carbon intensity, current half hour (National Energy System Operator)
LIVE_GB_URL = "https://api.carbonintensity.org.uk/intensity"
DEFAULT_REGIONS = ("USA", "FRA", "DEU", "GBR", "POL", "SWE", "CHN", "IND")
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class GridIntensity:
    code: str
    name: str
    g_co2e_per_kwh: float
    year: int | None
    source: str


@dataclass(frozen=True)
class ImpactParams:
    """What the user assumes about deployment (all parameters, none measured)."""

    requests_per_day: float = 1_000_000.0
    pue: float = 1.0
    price_per_kwh: float = 0.15
    currency: str = "USD"
    regions: tuple[str, ...] = DEFAULT_REGIONS
    household: str = "us"

    def validated(self) -> ImpactParams:
        if not (self.requests_per_day > 0 and self.requests_per_day <= 1e15):
            raise UsageError.bad("requests_per_day", self.requests_per_day, "must be > 0 and at most 1e15")
        if not (1.0 <= self.pue <= 5.0):
            raise UsageError.bad("pue", self.pue, "must be between 1.0 (IT energy only) and 5.0")
        if not (0.0 <= self.price_per_kwh <= 100.0):
            raise UsageError.bad("price_per_kwh", self.price_per_kwh, "must be between 0 and 100 per kWh")
        if not self.currency.strip() or len(self.currency) > 8:
            raise UsageError.bad("currency", self.currency, "give a short currency label, e.g. USD or EUR")
        table = carbon_table()
        unknown = [r for r in self.regions if r.upper() not in table]
        if unknown or not self.regions:
            raise UsageError.bad("regions", ",".join(self.regions),
                                 f"unknown region {unknown[0] if unknown else '(none)'}; allowed: {', '.join(table)}")
        if self.household not in household_table():
            raise UsageError.bad("household", self.household, f"allowed: {', '.join(household_table())}")
        return ImpactParams(self.requests_per_day, self.pue, self.price_per_kwh, self.currency.strip(),
                            tuple(r.upper() for r in self.regions), self.household)


@dataclass(frozen=True)
class Impact:
    """One energy per request at the given scale."""

    label: str
    energy_per_request_j: float
    kwh_per_day: float  # facility energy: IT energy x PUE
    households: float  # households whose yearly electricity equals this deployment's yearly energy
    g_co2e_per_day: dict[str, float]  # by region code
    cost_per_day: float
    estimated: bool  # the per-request energy includes estimated components


def _config_json(name: str) -> dict[str, Any]:
    path = resources.files("joulebench.configs").joinpath("impact", name)
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def carbon_table() -> dict[str, GridIntensity]:
    doc = _config_json("carbon_intensity.json")
    return {code: GridIntensity(code, str(v["name"]), float(v["g_co2e_per_kwh"]), v.get("year"), str(doc["source"]))
            for code, v in doc["regions"].items()}


@cache
def household_table() -> dict[str, Mapping[str, Any]]:
    return dict(_config_json("households.json")["households"])


def sources() -> dict[str, str]:
    """The citations printed with every impact table."""
    doc = _config_json("carbon_intensity.json")
    return {"carbon intensity": f"{doc['source']} (via {doc['retrieved_via']})",
            **{f"household ({k})": str(v["source"]) for k, v in household_table().items()}}


def impact(label: str, energy_per_request_j: float, params: ImpactParams, estimated: bool = False,
           grid: Mapping[str, GridIntensity] | None = None) -> Impact:
    """Daily facility energy, households, emissions and cost of ``params.requests_per_day`` requests."""
    grid = grid or carbon_table()
    kwh_day = j_to_kwh(energy_per_request_j) * params.requests_per_day * params.pue
    household_kwh_year = float(household_table()[params.household]["kwh_per_year"])
    return Impact(
        label=label,
        energy_per_request_j=energy_per_request_j,
        kwh_per_day=kwh_day,
        households=kwh_day * DAYS_PER_YEAR / household_kwh_year,
        g_co2e_per_day={code: kwh_day * grid[code].g_co2e_per_kwh for code in params.regions},
        cost_per_day=kwh_day * params.price_per_kwh,
        estimated=estimated,
    )


def live_gb_intensity(url: str = LIVE_GB_URL, timeout_s: float = 5.0) -> GridIntensity:
    """The current GB grid intensity from the public API (``data[0].intensity.actual``, else ``forecast``).

    Raises `RuntimeError` with one line when the source cannot be reached or answers something else."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout_s, headers={"Accept": "application/json"})
        response.raise_for_status()
        entry = response.json()["data"][0]
        value = entry["intensity"].get("actual") or entry["intensity"]["forecast"]
        value = float(value)
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise RuntimeError(f"live carbon intensity unavailable from {url}: {type(exc).__name__}: {exc}") from None
    if not 0.0 <= value <= 2000.0:
        raise RuntimeError(f"live carbon intensity from {url}: implausible value {value} gCO2/kWh")
    when = str(entry.get("from", ""))
    return GridIntensity("GBR", "Great Britain (live)", value, None, f"{url} (half hour from {when})")


def grid_with_live(params: ImpactParams, live: bool, url: str = LIVE_GB_URL) -> tuple[dict[str, GridIntensity], str | None]:
    """The bundled table, with GBR replaced by the live figure when ``live``; the note says what was used."""
    grid = dict(carbon_table())
    if not live:
        return grid, None
    try:
        grid["GBR"] = live_gb_intensity(url)
    except RuntimeError as exc:
        return grid, f"{exc}; the offline table was used"
    return grid, f"GBR uses the live figure {grid['GBR'].g_co2e_per_kwh:.0f} gCO2/kWh from {grid['GBR'].source}"


def parse_regions(text: str) -> tuple[str, ...]:
    return tuple(r.strip().upper() for r in text.split(",") if r.strip())


def impacts(items: Sequence[tuple[str, float, bool]], params: ImpactParams,
            grid: Mapping[str, GridIntensity] | None = None) -> list[Impact]:
    return [impact(label, energy, params, estimated, grid) for label, energy, estimated in items]
