"""The server's settings and where a model's data file is (docs/editors.md says the same for users).

The data of a model are checked as you type when the server knows the file: a `# data: PATH` comment in the
model (relative to the model's folder) wins; otherwise the first pattern of the setting `bnnlang.data` that
matches the model's path relative to the workspace folder gives it (`{stem}` becomes the model's file name
without `.bnn`; relative to the workspace folder). The settings arrive as initializationOptions and in
workspace/didChangeConfiguration, both shaped `{"bnnlang": {"data": {PATTERN: PATH}, "pedantic": BOOL}}`;
anything else in them is ignored, never an error.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECTION = "bnnlang"
_DATA_COMMENT = re.compile(r"^[ \t]*#[ \t]*data[ \t]*:[ \t]*(\S[^\n]*?)[ \t]*$", re.M)


@dataclass(frozen=True)
class Settings:
    data: tuple[tuple[str, str], ...] = ()  # (pattern of model paths, data path), first match wins
    pedantic: bool = False  # also the warnings of `bnnc check --pedantic`
    root: Path | None = None  # the workspace folder

    def updated(self, options: Any) -> Settings:
        """These settings with the client's `{"bnnlang": {...}}` (or the inner object alone) applied."""
        if not isinstance(options, Mapping):
            return self
        section = options.get(SECTION, options)
        if not isinstance(section, Mapping):
            return self
        data = section.get("data", dict(self.data))
        pairs = (
            tuple((k, v) for k, v in data.items() if isinstance(k, str) and isinstance(v, str))
            if isinstance(data, Mapping)
            else self.data
        )
        pedantic = section.get("pedantic", self.pedantic)
        return Settings(pairs, pedantic if isinstance(pedantic, bool) else self.pedantic, self.root)


@dataclass(frozen=True)
class DataRef:
    """A model's data file, and what named it."""

    path: Path
    shown: str  # as the comment or setting wrote it
    line: int | None  # 0-based line of the `# data:` comment; None when the setting named it

    @property
    def from_setting(self) -> bool:
        return self.line is None


def data_comment(text: str) -> tuple[int, str] | None:
    """The first `# data: PATH` comment: its 0-based line and the path as written."""
    m = _DATA_COMMENT.search(text)
    return (text.count("\n", 0, m.start()), m.group(1)) if m else None


def data_for(text: str, model: Path | None, settings: Settings) -> DataRef | None:
    """The data file of the model with (normalized) `text` at `model`, or None when nothing names one."""
    found = data_comment(text)
    if found is not None:
        line, shown = found
        base = model.parent if model is not None else settings.root
        if base is None and not Path(shown).is_absolute():
            return None
        return DataRef(_under(base, shown), shown, line)
    if model is None:
        return None
    for pattern, target in settings.data:
        if _matches(model, pattern, settings.root):
            shown = target.replace("{stem}", model.stem)
            base = settings.root if settings.root is not None else model.parent
            return DataRef(_under(base, shown), shown, None)
    return None


def _under(base: Path | None, shown: str) -> Path:
    p = Path(shown).expanduser()
    return p if p.is_absolute() or base is None else base / p


def _matches(model: Path, pattern: str, root: Path | None) -> bool:
    """A pattern matches the model's path relative to the workspace folder, or its absolute path."""
    candidates = [model.as_posix()]
    if root is not None:
        try:
            candidates.append(model.relative_to(root).as_posix())
        except ValueError:
            pass
    return any(fnmatch.fnmatchcase(c, pattern.replace("\\", "/")) for c in candidates)
