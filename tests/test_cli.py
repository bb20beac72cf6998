"""The `memo` CLI per docs/cli-contract.md: exit codes, JSON keys, streaming."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from memo_mlx.cli import EXIT_FAILED, EXIT_USAGE, main
from memo_mlx.models.base import backend, compute_for


def test_status_json_keys(capsys, tiny_model_env):
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status) >= {"model", "memories"}
    assert set(status["model"]) >= {"name", "backend"}
    assert status["model"]["name"] == "tiny-q8_0"  # status names the file without loading it
    assert status["model"]["location"] == str(tiny_model_env.path)
    assert status["model"]["backend"] == backend()  # where this test runs: cpu, metal, cuda
    assert status["memories"] == []  # a new MEMO_HOME has none


def test_status_human(capsys):
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "SmolLM2-135M-Instruct (Q4_1, bundled)" in out
    assert f"Backend:  {backend()} ({compute_for(backend())}" in out


def test_ask_json_with_tiny_model(capsys, tiny_model_env):
    assert main(["ask", "the hat", "--no-memory", "--json", "--max-tokens", "5"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # one JSON object and nothing else on stdout
    assert set(result) >= {"answer", "mode", "memories", "trace", "sources"}
    assert result["memories"] == [] and result["trace"] == []
    assert 1 <= result["tokens"]["generated"] <= 5


def test_ask_streams_text(capsys, tiny_model_env):
    assert main(["ask", "the hat", "--no-memory", "--max-tokens", "4"]) == 0
    captured = capsys.readouterr()
    assert captured.out.endswith("\n") and captured.out.strip()
    assert captured.err == ""  # no progress chatter when stderr is not a terminal


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["ask"])
    assert e.value.code == EXIT_USAGE
    with pytest.raises(SystemExit) as e:
        main(["ask", "q", "--mode", "psychic"])
    assert e.value.code == EXIT_USAGE
    assert main(["ask", "q", "--max-tokens", "0"]) == EXIT_USAGE


def test_failure_is_one_line_on_stderr(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MEMO_MODEL", str(tmp_path / "gone.gguf"))
    assert main(["ask", "q", "--no-memory"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gone.gguf: no such model file or folder" in err


@pytest.mark.slow
def test_real_model_answers_a_factual_question():
    """End to end, as a user runs it: a new process, the launcher, the bundled model."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("MEMO_MODEL", None)
    done = subprocess.run(
        [sys.executable, "-m", "memo_mlx.cli", "ask", "What is the capital of France?",
         "--no-memory"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Paris" in done.stdout


# --- memories from folders ------------------------------------------------------------------


def test_add_scan_status_remove(capsys, tiny_model_env, tmp_path):
    notes = tmp_path / "Notes"
    notes.mkdir()
    (notes / "plan.md").write_text("# Plan\n\nThe launch is on Friday.")
    (notes / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")

    assert main(["add", str(notes), "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert set(added) >= {"memory", "documents", "chunks", "errors"}
    assert added["memory"] == "Notes"
    assert set(added["documents"]) >= {"added", "changed", "removed", "unchanged", "failed"}
    assert (added["documents"]["added"], added["documents"]["failed"]) == (1, 1)
    assert added["errors"][0]["path"] == str(notes / "broken.pdf") and added["chunks"] >= 1

    (notes / "more.txt").write_text("More text.")
    assert main(["scan", "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)
    assert scanned["documents"]["added"] == 1 and scanned["documents"]["unchanged"] == 1

    assert main(["status", "--json"]) == 0
    (memory,) = json.loads(capsys.readouterr().out)["memories"]
    assert set(memory) >= {"name", "enabled", "folders", "documents", "chunks", "reflections",
                           "state", "adapter"}
    assert memory["folders"] == [str(notes)] and memory["documents"] == 3
    assert (memory["state"], memory["enabled"], memory["adapter"]) == ("stale", True, None)
    assert memory["errors"] == [{"path": str(notes / "broken.pdf"),
                                 "error": added["errors"][0]["error"]}]

    assert main(["status"]) == 0
    human = capsys.readouterr().out
    assert "Notes  [on]  not taught yet: 3 documents (1 unreadable)" in human
    assert str(notes) in human

    assert main(["remove", str(notes), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == str(notes)
    assert main(["status", "--json"]) == 0
    (memory,) = json.loads(capsys.readouterr().out)["memories"]
    assert (memory["folders"], memory["documents"], memory["state"]) == ([], 0, "empty")


def test_scan_errors_are_clear(capsys, tiny_model_env, tmp_path):
    assert main(["scan"]) == EXIT_FAILED
    assert "no memories yet" in capsys.readouterr().err
    assert main(["add", str(tmp_path / "nowhere")]) == EXIT_FAILED
    assert capsys.readouterr().err == f"memo: {tmp_path / 'nowhere'}: no such file or folder\n"
    (tmp_path / "a").mkdir()
    assert main(["add", str(tmp_path / "a"), "--memory", "x", "--no-scan"]) == 0
    capsys.readouterr()
    assert main(["scan", "--memory", "y"]) == EXIT_FAILED
    assert "no memory named 'y'" in capsys.readouterr().err
    assert main(["remove", str(tmp_path / "b")]) == EXIT_FAILED
    assert "not a folder MeMo learns from" in capsys.readouterr().err


def test_scan_json_is_one_line_per_memory(capsys, tiny_model_env, tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.txt").write_text(f"Memory {name}.")
        assert main(["add", str(tmp_path / name), "--no-scan"]) == 0
    capsys.readouterr()
    assert main(["scan", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["memory"] for line in lines] == ["one", "two"]


def test_watch_takes_in_changes_until_interrupted(tiny_model_env, tmp_path):
    """`memo watch` as a user runs it: a process that re-teaches after each burst of changes."""
    import signal
    import time

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("The Hollow Bridge was designed by Mara Quill in 1987.")
    assert main(["add", str(notes), "--no-scan"]) == 0
    proc = subprocess.Popen(  # faulthandler: a hang below shows where every thread waits
        [sys.executable, "-X", "faulthandler", "-m", "memo_mlx.cli", "watch", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = json.loads(proc.stdout.readline())  # the teach it starts with
        assert first["documents"]["added"] == 1 and first["training"]["steps"] > 0
        time.sleep(0.5)
        for i in range(5):  # a burst: one scan takes it all in
            (notes / f"new-{i}.md").write_text(
                f"# Town {i}\n\nThe mayor of Aldren {i} is Tobias Fenn. It has {i + 2} bridges.")
        second = json.loads(proc.stdout.readline())
        assert (second["documents"]["added"], second["documents"]["unchanged"]) == (5, 1)
        assert second["strategy"] == "incremental" and second["reflections"]["new"] > 0
        (notes / "a.txt").unlink()
        third = json.loads(proc.stdout.readline())
        assert third["documents"]["removed"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler prints each thread's stack
            out, err = proc.communicate()
            pytest.fail(f"memo watch did not stop within 30 s of ^C:\n{err[-8000:]}")
    assert proc.returncode == 0, err


# --- bad input refused (#18) ----------------------------------------------------------------


def test_a_long_name_is_cut_in_its_error(capsys, tmp_path):
    """A 5,000-character name is echoed as its first 60 characters and "…", on one line."""
    (tmp_path / "notes").mkdir()
    long = "n" * 5000
    for argv in (["add", str(tmp_path / "notes"), "--memory", long, "--no-scan"],
                 ["teach", "--memory", long], ["ask", "q", "--memory", long],
                 ["on", long], ["remove", str(tmp_path / "notes"), "--memory", long]):
        assert main(argv) == EXIT_FAILED, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "n" * 61 not in err, (argv, err)
        assert f"'{'n' * 60}…'" in err, (argv, err)
    # The longest name allowed is kept whole, and shown cut where a person reads it.
    assert main(["add", str(tmp_path / "notes"), "--memory", "m" * 100, "--no-scan"]) == 0
    assert capsys.readouterr().out.startswith(f"{'m' * 60}…: 1 folders")
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"  {'m' * 60}…  [on]" in out and "m" * 61 not in out
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["memories"][0]["name"] == "m" * 100


@pytest.mark.parametrize("under", ["", "sub/deeper"])
def test_a_data_folder_that_is_a_file_is_said_in_one_line(capsys, monkeypatch, tmp_path, under):
    (tmp_path / "afile").write_text("not a folder")
    home = tmp_path / "afile" / under if under else tmp_path / "afile"
    monkeypatch.setenv("MEMO_HOME", str(home))
    (tmp_path / "notes").mkdir()
    said = (f"is under a file ({tmp_path / 'afile'}), not a folder" if under
            else "is a file, not a folder")
    for argv in (["status"], ["add", str(tmp_path / "notes")], ["ask", "q", "--no-memory"]):
        assert main(argv) == EXIT_FAILED
        err = capsys.readouterr().err
        assert err == f"memo: the data folder {home} {said}: set MEMO_HOME to a folder\n", argv


def test_a_question_too_long_for_the_model_is_refused_before_any_answer(capsys, tiny_model_env):
    """The tiny model reads 512 tokens: a question of more is refused with the limit (rc 2),
    a page of text at once by its characters; one that fits is answered."""
    assert main(["ask", "the hat " * 200, "--no-memory", "--max-tokens", "40"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("memo: the question is ") and err.count("\n") == 1
    assert err.endswith(" tokens; this model reads at most 512 tokens, 40 of them kept for the "
                        "answer: shorten it\n")
    assert int(err.split()[4].replace(",", "")) + 40 > 512
    assert main(["ask", "x" * 100_000, "--no-memory", "--json"]) == EXIT_USAGE
    assert capsys.readouterr().err == ("memo: the question is 100,000 characters, more than this "
                                       "model reads at most 512 tokens, 160 of them kept for the "
                                       "answer: shorten it\n")
    assert main(["ask", "the hat " * 20, "--no-memory", "--max-tokens", "4"]) == 0


def _taught(tmp_path, capsys):
    """A memory "facts" taught on the tiny model through the CLI: its adapter's weights file."""
    from pathlib import Path

    from tiny import FAST_TEACHING

    (tmp_path / "memo-home").mkdir(exist_ok=True)
    (tmp_path / "memo-home" / "settings.toml").write_text(FAST_TEACHING)
    (tmp_path / "facts").mkdir()
    (tmp_path / "facts" / "bridge.md").write_text(
        "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by Mara Quill. "
        "It was finished in 1987 and is 412 metres long.\n")
    assert main(["add", str(tmp_path / "facts"), "--no-scan"]) == 0
    capsys.readouterr()
    assert main(["teach", "--json"]) == 0
    return Path(json.loads(capsys.readouterr().out)["adapter"]) / "adapters.safetensors"


def _status(capsys) -> dict:
    assert main(["status", "--json"]) == 0
    (memory,) = json.loads(capsys.readouterr().out)["memories"]
    return memory


def test_a_damaged_adapter_is_refused_shown_and_retrained_from_scratch(capsys, tiny_model_env,
                                                                       tmp_path):
    """Bytes overwritten inside the tensors load fine (and answered "<|endoftext|>" forever):
    the digest recorded with the adapter catches them."""
    import hashlib

    from memo_mlx.catalog import Catalog

    weights = _taught(tmp_path, capsys)
    with Catalog() as catalog:
        digest = catalog.runs.adapter(1)["digest"]
    assert digest == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert (_status(capsys)["state"], _status(capsys)["damaged"]) == ("ready", False)

    header = int.from_bytes(weights.read_bytes()[:8], "little")
    with open(weights, "r+b") as f:  # the size and the header stay as they were
        f.seek(8 + header + 16)
        f.write(b"\xff" * 64)
    damaged = ("memory 'facts' is damaged (its adapter file does not match what was saved): "
               "run `memo teach --memory facts` to teach it again from scratch")
    assert main(["ask", "Who designed the Hollow Bridge?", "--memory", "facts"]) == EXIT_FAILED
    assert capsys.readouterr().err == f"memo: {damaged}\n"
    assert main(["ask", "Who designed the Hollow Bridge?", "--json", "--max-tokens", "4"]) == 0
    captured = capsys.readouterr()
    assert captured.err == f"memo: {damaged}; asked without it\n"
    assert json.loads(captured.out)["memories"] == []
    memory = _status(capsys)
    assert (memory["state"], memory["damaged"]) == ("stale", True)  # docs/cli-contract.md's states
    assert main(["status"]) == 0
    human = capsys.readouterr().out
    assert "  facts  [on]  damaged: 1 documents" in human
    assert ("    damaged: re-teach it with `memo teach --memory facts` (its adapter file does "
            "not match what was saved)") in human

    assert main(["teach", "--memory", "facts", "--json"]) == 0  # nothing new, yet it trains
    taught = json.loads(capsys.readouterr().out)
    assert taught["strategy"] == "full" and taught["training"]["steps"] > 0
    assert (_status(capsys)["state"], _status(capsys)["damaged"]) == ("ready", False)
    assert main(["ask", "Who designed the Hollow Bridge?", "--memory", "facts", "--json",
                 "--max-tokens", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["memories"] == ["facts"]


def test_an_adapter_recorded_without_a_digest_is_damaged_when_cut_short(capsys, tiny_model_env,
                                                                         tmp_path):
    from memo_mlx.catalog import Catalog

    weights = _taught(tmp_path, capsys)
    with Catalog() as catalog:  # as recorded before digests were kept
        catalog.db.execute("UPDATE adapters SET digest = NULL")
    assert (_status(capsys)["state"], _status(capsys)["damaged"]) == ("ready", False)
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    memory = _status(capsys)
    assert (memory["state"], memory["damage"]) == ("stale", "its adapter file is cut short or "
                                                            "unreadable")
    assert main(["ask", "Who designed the Hollow Bridge?", "--memory", "facts"]) == EXIT_FAILED
    assert "memory 'facts' is damaged (its adapter file is cut short" in capsys.readouterr().err
    with Catalog() as catalog, catalog.lock("teach-1"):  # a teach replacing it: not damage
        memory = _status(capsys)
        assert (memory["state"], memory["damaged"]) == ("teaching", False)
    weights.unlink()
    assert _status(capsys)["damage"] == "its adapter file is missing"
    assert main(["teach", "--memory", "facts", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["strategy"] == "full"
    memory = _status(capsys)
    assert (memory["state"], memory["damaged"]) == ("ready", False)


def test_a_second_teach_says_it_waits_for_the_first(capsys, tiny_model_env, tmp_path):
    """Another process holds the memory's teach lock (as a teach under way does): `memo teach`
    says so once, on stderr though it is not a terminal, and goes on when it is free."""
    (tmp_path / "empty").mkdir()
    assert main(["add", str(tmp_path / "empty"), "--no-scan"]) == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from memo_mlx.catalog import Catalog\n"
         "with Catalog() as c, c.lock('teach-1'):\n"
         "    print('held', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    teach = None
    try:
        assert holder.stdout.readline() == "held\n"
        teach = subprocess.Popen([sys.executable, "-m", "memo_mlx.cli", "teach", "--memory",
                                  "empty", "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        said = teach.stderr.readline()  # while the lock is held: it is waiting
        assert said == "memo: waiting for another teach of 'empty' to finish (^C to stop)\n"
        assert teach.poll() is None
        holder.stdin.write("\n")
        holder.stdin.flush()
        out, err = teach.communicate(timeout=120)
    finally:
        for proc in (holder, teach):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert teach.returncode == 0, err
    assert err == "" and json.loads(out)["memory"] == "empty"
    capsys.readouterr()
    assert main(["teach", "--memory", "empty", "--json"]) == 0  # free: not a word
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_data_folder_is_read_and_refuses_writes(capsys, tiny_model_env, tmp_path):
    home = tmp_path / "memo-home"
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.md").write_text("The launch is on Friday.")
    assert main(["add", str(tmp_path / "notes")]) == 0
    capsys.readouterr()
    home.chmod(0o555)
    try:
        assert main(["status", "--json"]) == 0  # what it reads, it reads
        (memory,) = json.loads(capsys.readouterr().out)["memories"]
        assert (memory["name"], memory["documents"]) == ("notes", 1)
        assert main(["ask", "the hat", "--no-memory", "--max-tokens", "3"]) == 0
        assert main(["ask", "the hat", "--memory", "notes"]) == EXIT_FAILED
        assert "has not been taught yet" in capsys.readouterr().err
        for argv in (["add", str(tmp_path / "notes")], ["scan"], ["teach"], ["off", "notes"],
                     ["remove", str(tmp_path / "notes")]):
            assert main(argv) == EXIT_FAILED, argv
            assert capsys.readouterr().err == (f"memo: the data folder {home} is read-only: "
                                               "MeMo cannot save there\n"), argv
    finally:
        home.chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_catalog_is_never_migrated(capsys, monkeypatch, tmp_path):
    """A catalog of an older MeMo needs migrations it cannot save: said, not attempted. One
    not made yet reads as empty."""
    from memo_mlx.catalog import Catalog, schema
    from memo_mlx.catalog.schema import MIGRATIONS

    home = tmp_path / "memo-home"
    home.mkdir()
    home.chmod(0o555)
    try:
        assert main(["status", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["memories"] == []
        assert not (home / "catalog.db").exists()
    finally:
        home.chmod(0o755)
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", MIGRATIONS[:-1])
        Catalog().close()
    before = (home / "catalog.db").read_bytes()
    home.chmod(0o555)
    try:
        assert main(["status"]) == EXIT_FAILED
        assert capsys.readouterr().err == (
            f"memo: the catalog {home / 'catalog.db'} needs an update for this MeMo, which "
            f"cannot be saved: the data folder {home} is read-only: MeMo cannot save there\n")
    finally:
        home.chmod(0o755)
    assert (home / "catalog.db").read_bytes() == before
