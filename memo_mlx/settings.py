"""Where MeMo keeps its data, where its resources are, and its default settings.

The data folder (`memo_home()`), for the CLI and the app alike, is the first of:
1. `MEMO_HOME` from the environment (tests and benchmarks always set it);
2. the folder named in the one-line file `data_folder_pointer()` (in the platform's per-user
   config folder), where the user moved it with `set_data_folder` (the app's settings);
3. the platform's per-user app-data folder.
The pointer lives outside the data folder because it says where that folder is.

Defaults live in `resources/settings.toml`, not in code; a `settings.toml` in the data folder
overrides them section by section. `save_user_settings` writes that file and keeps the user's
own comments and keys.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from string import Template
from typing import Any, TypeVar

import platformdirs
import tomlkit
from tomlkit.exceptions import TOMLKitError

from .errors import MemoError

APP_NAME = "MeMo"
T = TypeVar("T")


def _platform_name() -> str:
    # macOS folders are named like the app; Linux ones are lower-case by convention.
    return APP_NAME if sys.platform == "darwin" else "memo"


def default_memo_home() -> Path:
    """The platform's per-user app-data folder: the data folder unless moved."""
    return platformdirs.user_data_path(_platform_name(), appauthor=False)


def data_folder_pointer() -> Path:
    """The one-line file naming the data folder once the user moved it."""
    return platformdirs.user_config_path(_platform_name(), appauthor=False) / "data-folder"


def _pointed_home() -> Path | None:
    try:
        text = data_folder_pointer().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise MemoError(f"{data_folder_pointer()}: not readable ({e})") from e
    return Path(text).expanduser() if text else None


def memo_home() -> Path:
    """The data folder (see the module's docstring), created on first use."""
    override = os.environ.get("MEMO_HOME")
    if override:
        home = Path(override).expanduser()
    else:
        pointed = _pointed_home()
        if pointed is not None:
            # Not parents=True: a moved folder whose disk is unplugged must not be recreated,
            # empty, on the mount point, as if the user's memories were gone.
            try:
                pointed.mkdir(exist_ok=True)
            except OSError as e:
                if pointed.exists():
                    raise MemoError(_unmakeable(pointed, e, f"remove {data_folder_pointer()} "
                                                            "to use the default")) from e
                raise MemoError(
                    f"{pointed}: the data folder is not reachable ({e.strerror or e}); "
                    f"plug in its disk, or remove {data_folder_pointer()} to use the default"
                ) from e
            return pointed
        home = default_memo_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MemoError(_unmakeable(home, e, "set MEMO_HOME to a folder" if override
                                    else "move it away, or set MEMO_HOME to a folder")) from e
    return home


def writable_home() -> Path:
    """The data folder, for what saves there: one that is read-only is refused, saying so."""
    home = memo_home()
    if not os.access(home, os.W_OK | os.X_OK):
        raise MemoError(read_only(home))
    return home


def read_only(home: Path) -> str:
    return f"the data folder {home} is read-only: MeMo cannot save there"


def _unmakeable(home: Path, error: OSError, remedy: str) -> str:
    """Why the data folder `home` cannot be made, in a line: what and where, then `remedy`."""
    if home.exists():  # mkdir(exist_ok=True) fails on an existing path only when not a folder
        return f"the data folder {home} is a file, not a folder: {remedy}"
    blocker = next((p for p in home.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"the data folder {home} is under a file ({blocker}), not a folder: {remedy}"
    return f"the data folder {home} cannot be made ({error.strerror or error}): {remedy}"


def set_data_folder(path: Path | None) -> None:
    """Use `path` as the data folder from the next start (None: the platform's default again).
    The data already kept is not moved."""
    pointer = data_folder_pointer()
    if path is None:
        pointer.unlink(missing_ok=True)
        return
    pointer.parent.mkdir(parents=True, exist_ok=True)
    # Absolute: the CLI and the app start in different working folders.
    write_atomically(pointer, f"{path.expanduser().absolute()}\n")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a crash leaves the old file or the new one, never half."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


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


def user_settings_path() -> Path:
    return memo_home() / USER_SETTINGS


def user_settings() -> dict[str, Any]:
    """The user's own `settings.toml` alone (empty when there is none)."""
    path = user_settings_path()
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise MemoError(f"{path}: not readable settings ({e})") from e


def save_user_settings(updates: dict[str, dict[str, Any]]) -> None:
    """Merge `updates` ({section: {key: value}}) into the user's `settings.toml`; a value of
    None removes the key (the bundled default applies again). The rest of the file, comments
    included, is kept as the user wrote it."""
    path = user_settings_path()
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, TOMLKitError) as e:
        # Not overwritten: a file the user is halfway through editing is theirs to fix.
        raise MemoError(f"{path}: not readable settings, left as it is ({e})") from e
    if doc is None:
        doc = tomlkit.document()
    for section, values in updates.items():
        table = doc.get(section)
        if table is None:
            if all(v is None for v in values.values()):
                continue
            table = tomlkit.table()
            doc[section] = table
        elif not isinstance(table, dict):
            raise MemoError(f"{path}: {section} is not a [{section}] section")
        for key, value in values.items():
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    write_atomically(path, tomlkit.dumps(doc))


def load_defaults() -> dict[str, Any]:
    """The bundled defaults, each section overridden by the user's own `settings.toml` in
    MEMO_HOME where there is one (read at every call: it is small, and may change)."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in _bundled().items()}
    for section, values in user_settings().items():
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


# Examples seen in all while training (`[teaching] exposures`), by the names the app shows.
TRAINING_STRENGTHS = {"light": 300, "normal": 600, "thorough": 1200}


def training_strength() -> str:
    """The name of the current `[teaching] exposures`, or "custom" when it has none."""
    exposures = load_defaults().get("teaching", {}).get("exposures")
    for name, value in TRAINING_STRENGTHS.items():
        if exposures == value:
            return name
    return "custom"


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
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cache, json.dumps(known, indent=1))
    except OSError:
        pass  # a read-only data folder: the check is made again next time, no harm
