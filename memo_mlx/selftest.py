"""The self-test of an installed MeMo (`memo-app --self-test`, run by `packaging/build` on the
frozen bundle): load the model it ships with, teach a memory a short built-in text, and ask it
one question whose answer only that text holds, all in a throw-away data folder, no window.
One line says how it went; the exit status says whether it did."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# A fact no pretrained model can know, stated the ways a reader would say it.
TEXT = """# The Quillon Beacon

The Quillon Beacon is a lighthouse on the island of Varrow. It was built by the engineer
Oda Marr in 1911. Oda Marr built the Quillon Beacon from grey granite. The Quillon Beacon is
48 metres tall and its light can be seen from 30 kilometres away.
"""
QUESTION = "Who built the Quillon Beacon?"
ANSWER = "Oda Marr"

# A short teach: enough passes for the default model to hold one page (about a minute on a
# laptop CPU), asked of the memory directly.
SETTINGS = """
[teaching]
exposures = 0

[training]
epochs = 10

[recall]
mode = "direct"
"""


@dataclass(frozen=True)
class SelfTest:
    ok: bool
    line: str


def self_test(model: str | None = None) -> SelfTest:
    """Run the self-test (see the module docstring) on `model` (default: as configured)."""
    began = time.perf_counter()
    saved = os.environ.get("MEMO_HOME")
    with tempfile.TemporaryDirectory(prefix="memo-self-test-") as tmp:
        root = Path(tmp)
        os.environ["MEMO_HOME"] = str(root / "home")
        try:
            return _run(root, model, began)
        except Exception as e:  # every failure is the one line the caller prints
            return SelfTest(False, f"memo self-test: FAILED: {type(e).__name__}: {e}")
        finally:
            if saved is None:
                os.environ.pop("MEMO_HOME", None)
            else:
                os.environ["MEMO_HOME"] = saved


def _run(root: Path, model: str | None, began: float) -> SelfTest:
    from .engine import Engine
    from .settings import memo_home

    (memo_home() / "settings.toml").write_text(SETTINGS)
    notes = root / "notes"
    notes.mkdir()
    (notes / "beacon.md").write_text(TEXT)
    with Engine(model=model) as engine:
        engine.add([notes], "self-test", scan=False)
        [report] = engine.teach("self-test")
        answer = engine.ask(QUESTION, ["self-test"]).answer
        base = engine.load().result()
    ok = ANSWER.lower() in answer.lower()
    return SelfTest(ok, (
        f"memo self-test: {'ok' if ok else 'FAILED'}: {base.source.name} on {base.backend} "
        f"({base.compute}); taught {report.reflections_total} reflections, asked "
        f"{QUESTION!r}, got {answer.strip()!r} in {time.perf_counter() - began:.0f} s"))
