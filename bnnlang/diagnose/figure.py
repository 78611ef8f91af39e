"""A report figure: the PNG a person sees and the numbers it was drawn from (report.json keeps those)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Figure:
    id: str
    title: str
    caption: str
    png: bytes
    data: dict[str, Any]
