"""Memory health: what a memory has learned of each document, measured after every teach.

A few of each document's reflections are held out of training
(`catalog.reflections.choose_probes`); after training they are asked of the memory, and a
probe counts as recalled when the memory's answer holds the names and numbers of the held-out
answer. They are questions the memory was never trained on, worded as the reflections it was,
so the score is how much of the document it can give back, per document: a user sees which
files it has not learned yet.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..catalog import Catalog, Memory, RecallScore, Reflection
from ..scoring import recalls
from ..settings import from_section


@dataclass(frozen=True)
class HealthSettings:
    probes_per_document: int = 2  # 0: no probes, no health measure
    # Documents with fewer reflections give none away: each one is needed to teach the file.
    min_reflections: int = 6
    max_tokens: int = 64
    # After a teach that trained on from the adapter, the documents it taught are measured
    # again, and this many probes of the others to see whether it disturbed them; re-asking
    # every probe (~600 on a 100 KB folder, 3 minutes on a CPU) would cost more than the teach.
    spot_checks: int = 24

    @classmethod
    def from_defaults(cls) -> HealthSettings:
        return from_section(cls, "health")


def hold_out(catalog: Catalog, memory: Memory, settings: HealthSettings) -> int:
    """Mark probes among reflections not yet taught; they are never trained on."""
    if settings.probes_per_document <= 0:
        return 0
    return catalog.reflections.choose_probes(memory.id, settings.probes_per_document,
                                 settings.min_reflections)


def measure(
    catalog: Catalog,
    memory: Memory,
    runtime: Any,
    *,
    run_id: int | None = None,
    settings: HealthSettings | None = None,
    cancel: threading.Event | None = None,
    documents: Collection[int] | None = None,
) -> RecallScore | None:
    """Ask the memory its probes, store each document's score, and return the memory's.

    `documents`: measure only these (those a teach changed) and a spot check of the others,
    keeping the other documents' last scores; None measures every document."""
    settings = settings or HealthSettings.from_defaults()
    probes = catalog.reflections.probes(memory.id)
    if documents is not None:
        probes = _changed_and_spot_checks(probes, set(documents), settings.spot_checks)
    current = catalog.runs.adapter(memory.id)
    if not probes or current is None:
        return catalog.reflections.recall(memory.id)
    replies = runtime.generate_batch(
        [[{"role": "user", "content": r.question}] for r, _, _ in probes],
        adapter=current["path"], max_tokens=settings.max_tokens, cancel=cancel,
    ).result()
    if len(replies) < len(probes):  # cancelled: keep the last complete measure
        return catalog.reflections.recall(memory.id)
    results: dict[int, tuple[int, int]] = {}
    for (reflection, document_id, _), reply in zip(probes, replies, strict=True):
        right, asked = results.get(document_id, (0, 0))
        results[document_id] = (right + recalls(reply.text, reflection.answer), asked + 1)
    catalog.reflections.save_recall(memory.id, run_id, results, partial=documents is not None)
    return catalog.reflections.recall(memory.id)


Probe = tuple[Reflection, int, str]  # a held-out reflection, its document's id and path


def _changed_and_spot_checks(probes: list[Probe], changed: set[int],
                             spot_checks: int) -> list[Probe]:
    """Every probe of the changed documents, and all the probes of as many other documents as
    `spot_checks` probes allow (a document's score is only fair over all its probes). Seeded
    by the documents, so the same teach checks the same ones."""
    by_document: dict[int, list[Probe]] = {}
    for probe in probes:
        by_document.setdefault(probe[1], []).append(probe)
    others = sorted(set(by_document) - changed)
    random.Random(len(others) * 7919 + sum(changed)).shuffle(others)
    chosen = set(changed)
    budget = spot_checks
    for document in others:
        if len(by_document[document]) > budget:
            continue
        chosen.add(document)
        budget -= len(by_document[document])
    return [p for p in probes if p[1] in chosen]
