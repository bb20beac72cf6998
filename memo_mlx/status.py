"""What `memo status` and the app's sidebar show of a memory: one dictionary, one place."""

from __future__ import annotations

from typing import Any

from .answering.recall import damage
from .catalog import Catalog, Memory, memory_state


def memory_status(catalog: Catalog, memory: Memory) -> dict[str, Any]:
    """One memory as `memo status --json` shows it (docs/cli-contract.md lists the keys that
    must be there)."""
    stats = catalog.stats(memory.id)
    folders = catalog.sources.folders(memory.id)
    recall = catalog.reflections.recall(memory.id)
    teaching = catalog.is_locked(f"teach-{memory.id}")
    why = None if teaching else damage(catalog, memory)
    return {
        "name": memory.name,
        "enabled": memory.enabled,
        "paused": memory.paused,
        "folders": [f.path for f in folders],
        "documents": stats.documents,
        "chunks": stats.chunks,
        "reflections": stats.reflections,
        "state": memory_state(memory, stats, teaching, damaged=why is not None),
        "adapter": stats.adapter,
        # Its adapter file is not the one saved (the reason in "damage"): the next teach
        # retrains it from scratch; until then it is not consulted.
        "damaged": why is not None,
        "damage": why,
        "missing": [f.path for f in folders if f.state == "missing"],
        "failed": stats.failed,
        "errors": [{"path": p, "error": e} for p, e in catalog.sources.errors(memory.id)],
        "recall": None if recall is None else {
            "score": round(recall.score, 3), "right": recall.right, "asked": recall.asked,
            "documents": [{"path": d.path, "score": round(d.right / d.asked, 3) if d.asked
                           else 0.0, "right": d.right, "asked": d.asked}
                          for d in recall.documents],
        },
    }


def learned(right: int, asked: int) -> bool:
    """Whether a document counts as learned: at least half its held-out questions answered."""
    return right * 2 >= asked


def weak_documents(status: dict[str, Any]) -> list[dict[str, Any]]:
    """The documents of a `memory_status` that its last check found not learned yet."""
    recall = status["recall"]
    return [d for d in recall["documents"] if not learned(d["right"], d["asked"])] if recall else []


def shown_state(status: dict[str, Any]) -> str:
    """The state a person reads: `state`, except that a memory never taught is "untaught" and
    one whose adapter is damaged "damaged", not "stale" (the JSON keeps the five states of
    docs/cli-contract.md; "stale" there means all three)."""
    if status["state"] == "stale" and status["adapter"] is None:
        return "untaught"
    if status["state"] == "stale" and status.get("damaged"):
        return "damaged"
    return str(status["state"])
