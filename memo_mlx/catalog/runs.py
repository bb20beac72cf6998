"""Runs: how each memory was taught: its **training_runs** (strategy, steps, what each trained on)
and its **adapters** (where the weights are, the base model they belong to, their digest).
Finishing a run moves the reflections it taught from untaught to taught in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .store import (
    Store,
    _batches,
    _marks,
    now,
)

# States of reflections whose text is gone: a full retrain (or forgetting all) deletes them.
_STALE = ("orphaned", "edited", "outdated")


# Strategies that train on from the memory's adapter: it still holds what they did not retrain.
_CONTINUING = ("incremental", "ties")


class Runs(Store):
    """The training runs of the memories and their adapters."""

    def start(self, memory_id: int, **fields: Any) -> int:
        with self.atomic():
            self.db.execute("UPDATE memories SET state = 'teaching', error = NULL WHERE id = ?",
                            [memory_id])
            return self._insert("training_runs", {
                "memory_id": memory_id, "status": "running", "started_at": now(), **fields,
            })

    def finish(
        self,
        run_id: int,
        status: str,
        *,
        adapter: str | None = None,
        base_model: str | None = None,
        digest: str | None = None,
        taught: Sequence[int] = (),
        **fields: Any,
    ) -> None:
        """Record how a run ended; a finished one makes its adapter the memory's, marks what it
        taught, and settles the reflections whose text is gone: a full retrain has forgotten
        them all (dropped); a run that trained on from the adapter (the run's strategy says)
        has only trained past the edited ones (outdated). `digest`: the sha256 of the
        adapter's weights, checked before it is used. One transaction."""
        with self.atomic():
            run = self.db.table("training_runs").get(run_id)
            memory_id = run["memory_id"]
            self.db.table("training_runs").update(
                run_id, {"status": status, "finished_at": now(), **fields}
            )
            state, error = ("error", fields.get("error")) if status == "failed" else ("idle", None)
            self.db.execute("UPDATE memories SET state = ?, error = ? WHERE id = ?",
                            [state, error, memory_id])
            if status != "done" or adapter is None:
                return
            self.db.execute("UPDATE adapters SET active = 0 WHERE memory_id = ?", [memory_id])
            self._insert("adapters", {
                "memory_id": memory_id, "run_id": run_id, "path": adapter,
                "base_model": base_model, "digest": digest, "active": 1, "created_at": now(),
            })
            for batch in _batches(list(taught)):
                marks = ",".join("?" * len(batch))
                self.db.execute(
                    f"UPDATE reflections SET run_id = ? WHERE run_id IS NULL AND id IN ({marks})",
                    [run_id, *batch],
                )
            if run["strategy"] in _CONTINUING:
                self.db.execute("UPDATE reflections SET state = 'outdated' "
                                "WHERE memory_id = ? AND state = 'edited'", [memory_id])
            else:
                self._drop_stale(memory_id)

    def interrupted(self, memory_id: int) -> None:
        """Runs left "running" by a process that was killed: say so, and free the memory."""
        with self.atomic():
            self.db.execute(
                "UPDATE training_runs SET status = 'interrupted' "
                "WHERE memory_id = ? AND status = 'running'", [memory_id],
            )
            self.db.execute(
                "UPDATE memories SET state = 'idle' WHERE id = ? AND state = 'teaching'",
                [memory_id],
            )

    def forget_all(self, memory_id: int) -> None:
        """Nothing the memory learnt from is left: drop the reflections whose text is gone, its
        adapter and its recall."""
        with self.atomic():
            self._drop_stale(memory_id)
            self.db.execute("UPDATE adapters SET active = 0 WHERE memory_id = ?", [memory_id])
            # Without an adapter there is nothing to measure: an old score would be a lie.
            self.db.execute("DELETE FROM document_recall WHERE memory_id = ?", [memory_id])

    def teach_all_again(self, memory_id: int) -> None:
        """The next teach retrains the memory from scratch on every reflection it has (as if
        none had been taught), and drops what is stale. The adapter stays the memory's until
        that run replaces it, so the memory still answers meanwhile; and a teach cut short
        resumes as a full retrain, since the mark is in the catalog."""
        with self.atomic():
            self._drop_stale(memory_id)
            self.db.execute("UPDATE reflections SET run_id = NULL WHERE memory_id = ?",
                            [memory_id])

    def _drop_stale(self, memory_id: int) -> None:
        """Delete the memory's reflections whose text is gone (`_STALE`), with their sources."""
        stale = f"SELECT id FROM reflections WHERE memory_id = ? AND state IN ({_marks(_STALE)})"
        self.db.execute(f"DELETE FROM reflection_sources WHERE reflection_id IN ({stale})",
                        [memory_id, *_STALE])
        self.db.execute(f"DELETE FROM reflections WHERE id IN ({stale})", [memory_id, *_STALE])

    def of(self, memory_id: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT * FROM training_runs WHERE memory_id = ? ORDER BY id", [memory_id]
        ))

    def adapter(self, memory_id: int) -> dict[str, Any] | None:
        """The memory's active adapter; its "path" absolute (stored relative to the catalog's
        folder, so a data folder that moves keeps its adapters)."""
        rows = list(self.db.query(
            "SELECT * FROM adapters WHERE memory_id = ? AND active = 1 ORDER BY id DESC LIMIT 1",
            [memory_id],
        ))
        if not rows:
            return None
        return {**rows[0], "path": str(self.path.parent / rows[0]["path"])}
