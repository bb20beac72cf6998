"""What `memo status` and the app's sidebar show of a memory: one dictionary, one place."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog, Memory, memory_state


def memory_status(catalog: Catalog, memory: Memory) -> dict[str, Any]:
    """One memory as `memo status --json` shows it (see INTERFACE.md for the keys that must be
    there)."""
    stats = catalog.stats(memory.id)
    folders = catalog.folders(memory.id)
    recall = catalog.recall(memory.id)
    return {
        "name": memory.name,
        "enabled": memory.enabled,
        "paused": memory.paused,
        "folders": [f.path for f in folders],
        "documents": stats.documents,
        "chunks": stats.chunks,
        "reflections": stats.reflections,
        "state": memory_state(memory, stats, catalog.is_locked(f"teach-{memory.id}")),
        "adapter": stats.adapter,
        "missing": [f.path for f in folders if f.state == "missing"],
        "failed": stats.failed,
        "errors": [{"path": p, "error": e} for p, e in catalog.errors(memory.id)],
        "recall": None if recall is None else {
            "score": round(recall.score, 3), "right": recall.right, "asked": recall.asked,
            "documents": [{"path": d.path, "score": round(d.right / d.asked, 3) if d.asked
                           else 0.0, "right": d.right, "asked": d.asked}
                          for d in recall.documents],
        },
    }


def shown_state(status: dict[str, Any]) -> str:
    """The state a person reads: `state`, except that a memory never taught is "untaught",
    not "stale" (the JSON keeps INTERFACE.md's five states; "stale" there means both)."""
    if status["state"] == "stale" and status["adapter"] is None:
        return "untaught"
    return str(status["state"])
