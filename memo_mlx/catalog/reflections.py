"""Reflections: the question-answer pairs written from chunks, with `sources` saying which
chunks taught each one (so removing a file orphans exactly what it taught), their full-text
index, and the **probes**: a few reflections per document held out of training and asked of
the memory after each teach; **document_recall** keeps how many it got right, per document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..scoring import normalise
from .records import (
    DocumentRecall,
    NewReflection,
    RecallScore,
    Reflection,
    _reflection,
)
from .store import (
    Store,
    _batches,
    _marks,
    fts_query,
    now,
)

_REFLECTION = "r.id, r.question, r.answer, r.kind, r.run_id, r.probe"  # `Reflection`, in order


# Kinds whose questions ask one fact of one passage: the fairest probes of what a text taught.
_PROBE_KINDS = ("direct", "entity")


class Reflections(Store):
    """The reflections of the memories, what taught them, and the probes' last measure."""

    def save(
        self,
        memory_id: int,
        chunk_id: int,
        reflections: Sequence[NewReflection],
        entities: Sequence[str],
        generator: str,
    ) -> None:
        """What one chunk taught, its names, and that it is done: one transaction, so a chunk is
        either wholly synthesized or not at all (a killed run redoes only unfinished chunks)."""
        with self.atomic():
            created = now()
            for r in reflections:
                rid = self._insert("reflections", {
                    "memory_id": memory_id, "question": r.question, "answer": r.answer,
                    "kind": r.kind, "generator": generator, "created_at": created,
                })
                for source in dict.fromkeys(r.chunk_ids):
                    self.db.execute(
                        "INSERT INTO reflection_sources (reflection_id, chunk_id, document_id) "
                        "SELECT ?, id, document_id FROM chunks WHERE id = ?", [rid, source],
                    )
            self.db.execute("DELETE FROM chunk_entities WHERE chunk_id = ?", [chunk_id])
            self.db.table("chunk_entities").insert_all(
                ({"chunk_id": chunk_id, "entity": e} for e in dict.fromkeys(entities)),
            )
            self.db.execute("UPDATE chunks SET synthesized_at = ? WHERE id = ?",
                            [created, chunk_id])

    def of(self, memory_id: int, state: str = "active") -> list[Reflection]:
        """Probes included (`probe` says which): training must leave those out."""
        rows = self.db.execute(
            f"SELECT {_REFLECTION} FROM reflections r "
            "WHERE r.memory_id = ? AND r.state = ? ORDER BY r.id", [memory_id, state],
        ).fetchall()
        return [_reflection(row) for row in rows]

    def sources(self, reflection_ids: Sequence[int]) -> dict[int, list[str]]:
        """The documents each reflection was written from, by path."""
        out: dict[int, list[str]] = {}
        for batch in _batches(list(reflection_ids)):
            marks = ",".join("?" * len(batch))
            for rid, path in self.db.execute(
                "SELECT DISTINCT s.reflection_id, d.path FROM reflection_sources s "
                f"JOIN documents d ON d.id = s.document_id WHERE s.reflection_id IN ({marks}) "
                "ORDER BY d.path", batch,
            ):
                out.setdefault(rid, []).append(path)
        return out

    def search(self, memory_id: int, text: str, limit: int = 5) -> list[Reflection]:
        """The memory's active reflections that best match a text (bm25), best first: which of
        them taught an answer, so that it can cite their documents. A taught "I don't know"
        (`abstain`) teaches none."""
        match = fts_query(text)
        if not match or limit <= 0:
            return []
        rows = self.db.execute(
            f"SELECT {_REFLECTION} FROM reflections_fts f JOIN reflections r ON r.id = f.rowid "
            "WHERE reflections_fts MATCH ? AND r.memory_id = ? AND r.state = 'active' "
            "AND r.kind != 'abstain' ORDER BY f.rank, r.id LIMIT ?",
            [match, memory_id, limit],
        ).fetchall()
        return [_reflection(row) for row in rows]

    def choose_probes(self, memory_id: int, per_document: int, min_reflections: int) -> int:
        """Hold out up to `per_document` reflections of each document that has at least
        `min_reflections` of its own, as probes; returns how many were marked. One transaction.

        Only reflections never taught can be held out (a taught one is in the adapter already),
        only those of one document (recall is per document), and only a second wording of a
        fact: another reflection of the document with the same answer stays taught, so a
        probe measures a fact the memory learned in other words and never withholds the only
        reflection of one. The choice is a hash of the question, so the same catalog always
        holds out the same ones."""
        with self.atomic():
            # Active reflections written from exactly one document, with that document.
            rows = self.db.execute(
                "SELECT r.id, r.question, r.answer, r.kind, r.run_id, r.probe, "
                "min(s.document_id) "
                "FROM reflections r JOIN reflection_sources s ON s.reflection_id = r.id "
                "WHERE r.memory_id = ? AND r.state = 'active' GROUP BY r.id "
                "HAVING count(DISTINCT s.document_id) = 1 AND count(s.document_id) = count(*)",
                [memory_id],
            ).fetchall()
            own: dict[int, int] = {}
            probes: dict[int, int] = {}
            # Per document and answer: the reflections that teach it (not probes).
            taught: dict[tuple[int, str], int] = {}
            candidates: dict[int, list[tuple[str, int, str]]] = {}
            for rid, question, answer, kind, run_id, probe, doc_id in rows:
                own[doc_id] = own.get(doc_id, 0) + 1
                fact = normalise(answer)
                if probe:
                    probes[doc_id] = probes.get(doc_id, 0) + 1
                    continue
                taught[doc_id, fact] = taught.get((doc_id, fact), 0) + 1
                if run_id is None and kind in _PROBE_KINDS:
                    digest = hashlib.sha256(question.encode()).hexdigest()
                    candidates.setdefault(doc_id, []).append((digest, rid, fact))
            chosen: list[int] = []
            for doc_id, ranked in candidates.items():
                room = per_document - probes.get(doc_id, 0)
                if own[doc_id] < min_reflections:
                    continue
                for _, rid, fact in sorted(ranked):
                    if room <= 0:
                        break
                    if taught[doc_id, fact] >= 2:  # another wording of it stays taught
                        chosen.append(rid)
                        taught[doc_id, fact] -= 1
                        room -= 1
            for batch in _batches(chosen):
                marks = ",".join("?" * len(batch))
                self.db.execute(f"UPDATE reflections SET probe = 1 WHERE id IN ({marks})", batch)
        return len(chosen)

    def documents_taught(self, reflection_ids: Sequence[int]) -> set[int]:
        """The documents whose chunks these reflections were written from."""
        found: set[int] = set()
        for batch in _batches(list(reflection_ids)):
            found.update(r[0] for r in self.db.execute(
                "SELECT DISTINCT document_id FROM reflection_sources "
                f"WHERE reflection_id IN ({_marks(batch)})", batch))
        return found

    def probes(self, memory_id: int) -> list[tuple[Reflection, int, str]]:
        """The memory's active probes, each with its document's id and path, by path."""
        rows = self.db.execute(
            f"SELECT DISTINCT {_REFLECTION}, d.id, d.path FROM reflections r "
            "JOIN reflection_sources s ON s.reflection_id = r.id "
            "JOIN documents d ON d.id = s.document_id "
            "WHERE r.memory_id = ? AND r.state = 'active' AND r.probe = 1 "
            "ORDER BY d.path, r.id",
            [memory_id],
        ).fetchall()
        return [(_reflection(row[:6]), int(row[6]), str(row[7])) for row in rows]

    def save_recall(
        self, memory_id: int, run_id: int | None, results: dict[int, tuple[int, int]],
        *, partial: bool = False,
    ) -> None:
        """Record a measure of the memory: document id -> (right, asked). A whole measure
        replaces the last one (a document whose probes all went with its old text drops out);
        a partial one replaces the scores of the documents it measured. A document removed
        meanwhile (a scan beside the teach) is skipped."""
        with self.atomic():
            measured = now()
            if not partial:
                self.db.execute("DELETE FROM document_recall WHERE memory_id = ?", [memory_id])
            for doc_id, (right, asked) in results.items():
                self.db.execute(
                    "INSERT OR REPLACE INTO document_recall "
                    '(document_id, memory_id, run_id, "right", asked, measured_at) '
                    "SELECT id, memory_id, ?, ?, ?, ? FROM documents "
                    "WHERE id = ? AND memory_id = ?",
                    [run_id, right, asked, measured, doc_id, memory_id],
                )

    def recall(self, memory_id: int) -> RecallScore | None:
        """The memory's last measured recall over the documents it still has; None if never
        measured."""
        rows = self.db.execute(
            'SELECT d.path, r."right", r.asked FROM document_recall r '
            "JOIN documents d ON d.id = r.document_id WHERE r.memory_id = ? ORDER BY d.path",
            [memory_id],
        ).fetchall()
        if not rows:
            return None
        documents = [DocumentRecall(*row) for row in rows]
        return RecallScore(
            right=sum(d.right for d in documents), asked=sum(d.asked for d in documents),
            documents=documents,
        )
