"""The app's icons and theme, from `resources/` (beside the code, or inside a frozen app)."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from memo_mlx.settings import resources_dir


def icon(name: str = "memo") -> QIcon:
    return QIcon(str(resources_dir() / "icons" / f"{name}.svg"))


def stylesheet() -> str:
    return (resources_dir() / "themes" / "app.qss").read_text(encoding="utf-8")
