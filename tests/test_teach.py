"""Teaching end to end on real folders, the real catalog and a real (tiny) model: scan,
reflections, training, strategies, forgetting, edits, runs recorded, a killed teach resumed."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from memo_mlx.catalog import Catalog, memory_state
from memo_mlx.cli import main
from memo_mlx.learning.health import HealthSettings
from memo_mlx.learning.teach import (
    TeachProgress,
    TeachSettings,
    adapter_dir,
    seconds_per_token,
    teach_memory,
)
from memo_mlx.models.runtime import ModelRuntime
from memo_mlx.sources.chunking import Chunker
from memo_mlx.sources.ingest import add_paths
from tiny import FAST_TEACHING


@pytest.fixture
def runtime(tiny_model_env) -> Iterator[ModelRuntime]:
    with ModelRuntime() as rt:
        yield rt


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "facts"
    root.mkdir()
    (root / "bridge.md").write_text(
        "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by Mara Quill. "
        "It was finished in 1987 and is 412 metres long.\n")
    (root / "quill.md").write_text(
        "# Mara Quill\n\nMara Quill was born in Tessaly in 1941. She founded the Aldren "
        "Institute of Bridges in 1990.\n")
    (tmp_path / "memo-home").mkdir(exist_ok=True)
    (tmp_path / "memo-home" / "settings.toml").write_text(FAST_TEACHING)
    return root


TOWNS = [
    ("Aldren", "Mara Quill", "Tessel", "wool"),
    ("Brisk", "Oren Vale", "Marrow", "salt"),
    ("Corvane", "Ilsa Dunmore", "Pell", "amber"),
    ("Dunhollow", "Tobias Wren", "Sable", "copper"),
    ("Esterly", "Nadia Fenwick", "Lorn", "linen"),
    ("Fairmoss", "Caspar Holt", "Ambry", "honey"),
    ("Glenharrow", "Petra Lisle", "Varro", "glass"),
    ("Hollin", "Anselm Rook", "Quell", "rope"),
]


@pytest.fixture
def towns(folder: Path) -> Path:
    """Eight notes of three sections each, beside `folder` (for its settings): a section is a
    chunk, so an edit to one sentence changes one chunk of 24."""
    root = folder.with_name("towns")
    root.mkdir()
    for i, (town, founder, river, goods) in enumerate(TOWNS):
        (root / f"{town.lower()}.md").write_text(
            f"# {town}\n\n## History\n\n{town} was founded by {founder} in {1700 + 13 * i}. "
            f"The town lies on the {river} river, which floods every spring. "
            f"{founder} built the first mill of {town} beside the river in {1705 + 13 * i}.\n\n"
            f"## Market\n\nThe market of {town} trades in {goods}. "
            f"It opens every {['Monday', 'Friday'][i % 2]} at dawn and closes at noon. "
            f"Traders from the {river} valley bring {goods} to {town} by boat.\n\n"
            f"## People\n\n{town} has {1000 + 371 * i} residents and {3 + i} schools. "
            f"Its stone bridge over the {river} is {40 + 7 * i} metres long. "
            f"The mayor of {town} is elected every {3 + i % 3} years.\n")
    return root


def teach(catalog: Catalog, runtime: ModelRuntime, strategy: str = "incremental", **kw):
    memory = catalog.memories()[0]
    # The settings.toml's (FAST_TEACHING: 2 epochs), not the product's: a new TeachSettings()
    # would train ~29 epochs, 15 times what these tests need.
    settings = replace(TeachSettings.from_defaults(), strategy=strategy, min_replay=2)
    return teach_memory(catalog, memory, runtime, chunker=Chunker(), settings=settings, **kw)


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def stale(catalog: Catalog, memory_id: int) -> list[str]:
    """The states of the reflections whose text is gone, one per reflection."""
    return [state for state in ("orphaned", "edited", "outdated")
            for _ in catalog.reflections.of(memory_id, state)]


def test_teach_then_change_then_forget(folder, runtime):
    with Catalog() as catalog:
        add_paths(catalog, [folder], None)
        seen: list[TeachProgress] = []
        first = teach(catalog, runtime, on_progress=seen.append)
        memory = catalog.memories()[0]
        assert first.strategy == "full" and first.reflections_new > 5
        # Probes are held out of training, then asked: the memory's health per document.
        assert first.probes > 0 and first.reflections_new + first.probes == first.reflections_total
        assert first.recall is not None and first.recall.asked == first.probes
        assert {Path(d.path).name for d in first.recall.documents} == {"bridge.md", "quill.md"}
        assert first.training is not None and first.training.steps > 0
        assert Path(first.adapter or "") == adapter_dir(memory)
        assert (adapter_dir(memory) / "adapters.safetensors").is_file()
        assert {p.phase for p in seen} == {"scan", "synthesis", "training", "check"}
        assert memory_state(memory, catalog.stats(memory.id)) == "ready"
        (run,) = catalog.runs.of(memory.id)
        assert run["status"] == "done" and run["strategy"] == "full"
        assert run["steps"] == first.training.steps and run["data_hash"]
        assert json.loads(run["settings"])["rank"] == 4

        again = teach(catalog, runtime)  # nothing changed: nothing to train
        assert again.strategy == "none" and again.training is None

        (folder / "aldren.md").write_text("# Port Aldren\n\nPort Aldren has 9000 residents.\n")
        grown = teach(catalog, runtime)
        assert grown.strategy == "incremental"
        assert 0 < grown.reflections_new < grown.reflections_total
        runs = catalog.runs.of(memory.id)
        assert runs[-1]["new_examples"] == grown.reflections_new
        assert runs[-1]["examples"] > grown.reflections_new  # with a replay of old ones

        (folder / "quill.md").unlink()
        forgot = teach(catalog, runtime)
        assert forgot.scan.removed == 1 and forgot.strategy == "full"
        assert catalog.reflections.of(memory.id, "orphaned") == []  # dropped once retrained
        assert not any("Tessaly" in r.answer for r in catalog.reflections.of(memory.id))
        assert forgot.recall is None or "quill.md" not in {
            Path(d.path).name for d in forgot.recall.documents}
        assert memory_state(memory, catalog.stats(memory.id)) == "ready"


def test_an_edit_is_taught_incrementally_until_too_much_is_stale(towns, runtime):
    with Catalog() as catalog:
        add_paths(catalog, [towns], None)
        first = teach(catalog, runtime)
        memory = catalog.memories()[0]
        assert first.strategy == "full"

        replace_in(towns / "aldren.md", "trades in wool.", "trades in wool and dyed cloth.")
        edit = teach(catalog, runtime)
        assert edit.scan.changed == 1 and edit.strategy == "incremental"
        full_run, edit_run = catalog.runs.of(memory.id)
        assert edit_run["examples"] * 5 < full_run["examples"]  # the new ones and a replay
        assert edit_run["new_examples"] == edit.reflections_new > 0
        outdated = catalog.reflections.of(memory.id, "outdated")  # trained past, not forgotten
        assert outdated and {r.run_id for r in outdated} == {full_run["id"]}
        assert catalog.reflections.of(memory.id, "edited") == []
        taught = [r for r in catalog.reflections.of(memory.id) if not r.probe]
        assert all(r.run_id is not None for r in taught)
        assert any("dyed cloth" in r.answer for r in taught if r.run_id == edit_run["id"])
        stats = catalog.stats(memory.id)
        assert stats.outdated_reflections == len(outdated)
        assert memory_state(memory, stats) == "ready"

        for town in ("brisk", "corvane", "dunhollow"):  # past the stale share: forget it all
            path = towns / f"{town}.md"
            path.write_text(path.read_text().replace(" the ", " that "))
        rewrite = teach(catalog, runtime)
        assert rewrite.strategy == "full" and rewrite.reflections_new > 0
        assert stale(catalog, memory.id) == []  # the outdated ones too
        assert memory_state(memory, catalog.stats(memory.id)) == "ready"


def measured_by(catalog: Catalog, memory_id: int) -> dict[str, int]:
    """Each document's name -> the run its recall was last measured after."""
    return {Path(path).name: run for path, run in catalog.db.execute(
        "SELECT d.path, r.run_id FROM document_recall r JOIN documents d ON d.id = r.document_id "
        "WHERE r.memory_id = ?", [memory_id])}


def test_after_an_edit_its_document_is_measured_again_and_others_spot_checked(towns, runtime):
    with Catalog() as catalog:
        add_paths(catalog, [towns], None)
        teach(catalog, runtime)
        memory = catalog.memories()[0]
        (full_run,) = catalog.runs.of(memory.id)
        before = measured_by(catalog, memory.id)
        assert len(before) == 8 and set(before.values()) == {full_run["id"]}

        replace_in(towns / "aldren.md", "trades in wool.", "trades in wool and dyed cloth.")
        edit = teach(catalog, runtime, checkup=HealthSettings(spot_checks=2))
        assert edit.strategy == "incremental"
        edit_run = catalog.runs.of(memory.id)[-1]["id"]
        after = measured_by(catalog, memory.id)
        again = {name for name, run in after.items() if run == edit_run}
        # The edited note, and one other note's two probes as the spot check.
        assert "aldren.md" in again and len(again) == 2
        assert after.keys() == before.keys()  # the rest keep their last scores
        assert edit.recall is not None and len(edit.recall.documents) == 8


def test_deleted_text_or_a_removed_file_retrains_in_full(towns, runtime):
    with Catalog() as catalog:
        add_paths(catalog, [towns], None)
        teach(catalog, runtime)
        memory = catalog.memories()[0]
        # The People section is a chunk of its own: the rest of the file keeps its chunks.
        path = towns / "brisk.md"
        path.write_text(path.read_text().split("## People")[0].rstrip() + "\n")
        deleted = teach(catalog, runtime)  # nothing new could overwrite what it taught
        assert deleted.scan.changed == 1 and deleted.synthesis is not None
        assert (deleted.synthesis.chunks, deleted.strategy) == (0, "full")
        assert stale(catalog, memory.id) == []
        assert not any("1371" in r.question + r.answer for r in catalog.reflections.of(memory.id))

        replace_in(towns / "corvane.md", "trades in amber.", "trades in amber and jet.")
        assert teach(catalog, runtime).strategy == "incremental"
        assert catalog.reflections.of(memory.id, "outdated")
        (towns / "corvane.md").unlink()  # what it taught, before and since the edit, must go
        removed = teach(catalog, runtime)
        assert removed.scan.removed == 1 and removed.strategy == "full"
        assert stale(catalog, memory.id) == []
        assert not any("Corvane" in r.question + r.answer
                       for r in catalog.reflections.of(memory.id))
        assert memory_state(memory, catalog.stats(memory.id)) == "ready"


def test_ties_strategy_merges_new_into_old(folder, runtime):
    with Catalog() as catalog:
        add_paths(catalog, [folder], None)
        teach(catalog, runtime)
        (folder / "aldren.md").write_text("# Port Aldren\n\nPort Aldren has 9000 residents.\n")
        merged = teach(catalog, runtime, strategy="ties")
        memory = catalog.memories()[0]
        assert merged.strategy == "ties" and merged.training is not None
        assert (adapter_dir(memory) / "adapters.safetensors").is_file()
        assert not adapter_dir(memory).with_name(adapter_dir(memory).name + ".batch").exists()
        assert catalog.runs.of(memory.id)[-1]["status"] == "done"


def test_teach_cli_json(folder, tiny_model_env, capsys):
    assert main(["add", str(folder), "--no-scan"]) == 0
    capsys.readouterr()
    assert main(["teach", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"memory", "documents", "chunks", "errors", "reflections", "training",
                           "adapter"}
    assert set(result["reflections"]) >= {"new", "total"}
    assert set(result["training"]) >= {"steps", "tokens", "seconds", "final_loss"}
    assert result["documents"]["added"] == 2 and result["training"]["steps"] > 0
    assert result["adapter"].endswith("memory-1")
    assert main(["status", "--json"]) == 0
    (memory,) = json.loads(capsys.readouterr().out)["memories"]
    assert (memory["state"], memory["adapter"]) == ("ready", result["adapter"])
    assert memory["reflections"] == result["reflections"]["total"]


def test_a_killed_teach_resumes(folder, tiny_model_env, tmp_path):
    (tmp_path / "memo-home" / "settings.toml").write_text(
        "[training]\nrank = 4\nepochs = 12\ncheckpoint_every = 2\n[teaching]\nexposures = 0\n")
    with Catalog() as catalog:
        add_paths(catalog, [folder], None)
    proc = subprocess.Popen([sys.executable, "-m", "memo_mlx.cli", "teach", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoint = adapter_dir_path(tmp_path).with_name("memory-1.checkpoint")
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with Catalog() as catalog:
        assert catalog.integrity_check() == "ok"
        memory = catalog.memories()[0]
        assert memory_state(memory, catalog.stats(memory.id),
                            catalog.is_locked(f"teach-{memory.id}")) == "stale"
        with ModelRuntime() as runtime:
            report = teach_memory(catalog, memory, runtime, chunker=Chunker())
        assert report.training is not None and report.training.resumed_from > 0
        assert report.scan.unchanged == 2 and report.synthesis is not None
        assert report.synthesis.chunks == 0  # every reflection was already written
        statuses = [r["status"] for r in catalog.runs.of(memory.id)]
        assert statuses == ["interrupted", "done"]


def adapter_dir_path(tmp_path: Path) -> Path:
    return tmp_path / "memo-home" / "adapters" / "memory-1"


def test_bad_strategy(folder, runtime):
    with Catalog() as catalog, pytest.raises(Exception, match="strategy must be one of"):
        add_paths(catalog, [folder], None)
        teach(catalog, runtime, strategy="psychic")


def test_a_new_base_model_retrains_and_is_not_consulted_before(folder, runtime, tiny_dir,
                                                              monkeypatch):
    from gguf import GGMLQuantizationType as QT

    from memo_mlx.answering.recall import Recall, RecallError, unusable
    from tiny import write_tiny_gguf

    with Catalog() as catalog:
        add_paths(catalog, [folder], None)
        assert teach(catalog, runtime).strategy == "full"
        memory = catalog.memories()[0]
        other = write_tiny_gguf(tiny_dir / "tiny-other-f16.gguf", QT.F16)
        monkeypatch.setenv("MEMO_MODEL", str(other.path))
        with ModelRuntime() as new_base:
            base = str(new_base.loaded.result().source.location)
            why = unusable(catalog, memory, base)
            assert why is not None and why.reason == "other-base" and why.detail != base
            assert "taught on another base model" in why.says(memory)
            with pytest.raises(RecallError, match="taught on another base model"):
                Recall(catalog, new_base).ask("Who designed the Hollow Bridge?", [memory],
                                              mode="direct")
            again = teach(catalog, new_base)  # nothing new in the folder, but a new base
            assert again.strategy == "full" and again.training is not None
            assert unusable(catalog, memory, base) is None


# --- resuming said, the time told (#18) -----------------------------------------------------


class Tty(io.StringIO):
    """A terminal's stderr: the CLI shows progress only to one."""

    def isatty(self) -> bool:
        return True


def test_a_resumed_teach_says_where_it_goes_on(folder, tiny_model_env, capsys, monkeypatch):
    stop = threading.Event()

    def cancel_at_step_2(p: TeachProgress) -> None:
        if p.phase == "training" and p.detail.step == 2:
            stop.set()

    with Catalog() as catalog:
        memory = add_paths(catalog, [folder], None)
        with ModelRuntime() as runtime:
            first = teach_memory(catalog, memory, runtime, chunker=Chunker(),
                                 on_progress=cancel_at_step_2, cancel=stop)
        assert first.cancelled and first.training and first.training.steps == 2
    stderr = Tty()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["teach"]) == 0
    with Catalog() as catalog:
        run = catalog.runs.of(memory.id)[-1]
    assert run["status"] == "done" and run["steps"] > 2
    said = stderr.getvalue().split("\r\x1b[K")
    assert f"Resuming 'facts' at step 2 of {run['steps']}\n" in said  # a line of its own
    assert f"Training {run['steps']} steps" in said  # no earlier finished run: no estimate
    assert "(resumed at step 2)" in capsys.readouterr().out


def test_the_time_of_training_is_told_by_earlier_runs(folder, runtime):
    with Catalog() as catalog:
        add_paths(catalog, [folder], None)
        memory = catalog.memories()[0]
        base = str(runtime.loaded.result().source.location)
        assert seconds_per_token(catalog, base) is None
        seen: list[TeachProgress] = []
        teach(catalog, runtime, on_progress=seen.append)
        start = next(p for p in seen if p.phase == "training")
        assert start.detail.step == 0 and start.eta_seconds is None  # nothing to tell it by
        # Writing reflections: after the first chunk, by the chunks' pace.
        writing = [p for p in seen if p.phase == "synthesis"]
        assert all((p.eta_seconds is None) == (p.detail.done == 0) for p in writing)
        (run,) = catalog.runs.of(memory.id)
        pace = run["seconds"] / run["tokens"]
        assert seconds_per_token(catalog, base) == pytest.approx(pace)
        assert seconds_per_token(catalog, "another model") is None

        (folder / "lantern.md").write_text("# Lantern Night\n\nThe Lantern Night of Port "
                                           "Aldren is held every October since 1952.\n")
        seen.clear()
        again = teach(catalog, runtime, on_progress=seen.append)
        assert again.training is not None and again.training.resumed_from == 0
        start = next(p for p in seen if p.phase == "training")
        assert start.detail.step == 0 and start.detail.total_steps == again.training.steps
        assert start.eta_seconds == pytest.approx(pace * again.training.tokens)
