"""The shape every study table has (printed by the command, stored as the study point, in ``--json``),
and the study's published figures they are shown beside.

A table is plain data - a title, column names, rows of numbers and text, notes - so that the terminal,
the JSON document and the store hold the same thing. Energies are joules inside; the tables show Wh
where the study did (`joulebench.units`, the one conversion).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

#: marks a labelled estimate (no hardware counter), as every joulebench table does
ESTIMATE_MARK = "~"


@dataclass(frozen=True)
class StudyTable:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "columns": list(self.columns),
                "rows": [list(r) for r in self.rows], "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> StudyTable:
        return cls(str(doc["name"]), str(doc["title"]), tuple(doc["columns"]), tuple(tuple(r) for r in doc["rows"]),
                   tuple(doc.get("notes") or ()))


def table(name: str, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
          notes: Sequence[str] = ()) -> StudyTable:
    return StudyTable(name, title, tuple(columns), tuple(tuple(r) for r in rows), tuple(notes))


def component_label(component: str, estimated: bool) -> str:
    return f"{component} {ESTIMATE_MARK}estimate" if estimated else component


@cache
def llm_reference() -> dict[str, Any]:
    """The study's published LLM figures (configs/data/llm_study_reference.json, its source cited inside)."""
    text = resources.files("joulebench.configs").joinpath("data/llm_study_reference.json").read_text()
    return json.loads(text)


def reference_source() -> str:
    return str(llm_reference()["_source"])
