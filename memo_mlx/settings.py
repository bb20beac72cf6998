"""Where MeMo keeps its data, where its resources are, and its default settings.

`MEMO_HOME` overrides the data folder (tests and benchmarks always set it); otherwise it is
the platform's per-user app-data folder. Defaults live in `resources/settings.toml`, not in code;
a `settings.toml` in MEMO_HOME overrides them section by section.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from string import Template
from typing import Any, TypeVar

import platformdirs

from .errors import MemoError

APP_NAME = "MeMo"
T = TypeVar("T")


def memo_home() -> Path:
    """The data folder, created on first use."""
    override = os.environ.get("MEMO_HOME")
    if override:
        home = Path(override).expanduser()
    elif sys.platform == "darwin":
        home = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    else:
        home = Path(platformdirs.user_data_dir("memo", appauthor=False))
    home.mkdir(parents=True, exist_ok=True)
    return home


def resources_dir() -> Path:
    """`resources/` beside the packages in a checkout, or inside a frozen (PyInstaller) app."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parent.parent
    return root / "resources"


@dataclass(frozen=True)
class GenerationSettings:
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    repetition_context: int = 64
    max_tokens: int = 256
    system_prompt: str = ""

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GenerationSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


USER_SETTINGS = "settings.toml"


@cache
def _bundled() -> dict[str, Any]:
    with open(resources_dir() / "settings.toml", "rb") as f:
        return tomllib.load(f)


def load_defaults() -> dict[str, Any]:
    """The bundled defaults, each section overridden by the user's own `settings.toml` in
    MEMO_HOME where there is one (read at every call: it is small, and may change)."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in _bundled().items()}
    path = memo_home() / USER_SETTINGS
    if not path.is_file():
        return merged
    try:
        with open(path, "rb") as f:
            user = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise MemoError(f"{path}: not readable settings ({e})") from e
    for section, values in user.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    return merged


def from_section(cls: type[T], name: str) -> T:
    """The settings dataclass `cls` filled from section `name`; keys it does not know are
    ignored (a newer settings file, an older MeMo)."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in load_defaults().get(name, {}).items() if k in known})


def generation_settings() -> GenerationSettings:
    raw = load_defaults()
    return GenerationSettings.from_dict({**raw.get("generation", {}), **raw.get("chat", {})})


def prompt(name: str, **values: object) -> str:
    """The prompt `resources/prompts/NAME.txt` with `$value`s filled in."""
    text = (resources_dir() / "prompts" / f"{name}.txt").read_text()
    return Template(text).safe_substitute({k: str(v) for k, v in values.items()})


def known_verdict(check: str, subject: str) -> tuple[bool, str] | None:
    """A model's self-check verdict kept in MEMO_HOME (`check`: which test), if any: a slow
    local model is tested once, not at every use."""
    try:
        known = json.loads((memo_home() / "cache" / f"{check}.json").read_text())
        ok, why = known[subject]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return bool(ok), str(why)


def keep_verdict(check: str, subject: str, verdict: tuple[bool, str]) -> None:
    cache = memo_home() / "cache" / f"{check}.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    known[subject] = list(verdict)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(".tmp")
    partial.write_text(json.dumps(known, indent=1))
    partial.replace(cache)
