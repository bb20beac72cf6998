"""`memo bench` end to end on the tiny model: a small corpus taught from scratch, every
condition answered and judged, the report's numbers, and the user's data left alone."""

from __future__ import annotations

import json
from pathlib import Path

from memo_mlx.bench.benchmark import DEFAULT_CONDITIONS
from memo_mlx.catalog import Catalog
from memo_mlx.cli import main
from memo_mlx.scoring import says_unknown
from memo_mlx.settings import memo_home

FAST = "[training]\nrank = 4\nepochs = 1\n\n[teaching]\nexposures = 0\n"


def test_bench_reports_every_condition(tiny_model_env, tmp_path: Path, capsys):
    home = memo_home()
    (home / "settings.toml").write_text(FAST)  # taken along into the benchmark's own home
    with Catalog() as catalog:
        catalog.create_memory("mine")
    work = tmp_path / "work"
    assert main(["bench", "--json", "--documents", "6", "--distractors", "2", "--questions",
                 "10", "--work", str(work), "--out", str(tmp_path / "report.json")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((tmp_path / "report.json").read_text())
    assert report["settings"] == "user"
    assert report["corpus"]["documents"] == 6 and report["corpus"]["questions"] == 10
    assert report["teach"]["reflections"] > 20 and report["teach"]["training"]["steps"] > 0
    assert report["distractor_teach"]["strategy"] == "incremental"
    assert list(report["conditions"]) == list(DEFAULT_CONDITIONS["fiction"])
    kinds = report["corpus"]["by_kind"]
    answerable = 10 - kinds.get("unanswerable", 0)
    for name, c in report["conditions"].items():
        assert c["asked"] == answerable and 0 <= c["right"] <= answerable, name
        assert c["accuracy"] == round(c["right"] / answerable, 3)
        assert sum(k["asked"] for k in c["by_kind"].values()) == 10
        assert [a["correct"] for a in c["answers"] if a["kind"] != "unanswerable"
                ].count(True) == c["right"]
        declined = [a for a in c["answers"] if a["kind"] != "unanswerable"
                    and says_unknown(a["answer"])]
        assert c["false_abstention"] == round(len(declined) / answerable, 3)
    assert report["conditions"]["rag"]["answers"][0]["sources"]  # chunks were retrieved
    assert (work / "corpus" / "questions.jsonl").is_file()
    assert memo_home() == home  # the user's data folder is left as it was
    with Catalog() as catalog:
        assert [m.name for m in catalog.memories()] == ["mine"]


def test_bench_usage_errors(tiny_model_env, tmp_path: Path, capsys):
    assert main(["bench", "--documents", "2"]) == 2
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["bench", "--work", str(tmp_path / "full")]) == 2
    assert "--work must be a new or empty folder" in capsys.readouterr().err
    assert main(["bench", "--again"]) == 2
    assert "name the folder" in capsys.readouterr().err
    assert main(["bench", "--again", "--work", str(tmp_path / "full")]) == 1
    assert "no earlier run taught a memory here" in capsys.readouterr().err


def test_bench_on_real_text(tiny_model_env, tmp_path: Path, capsys):
    """--corpus squad: Wikipedia pages taught, crowd questions judged by contained match and
    F1, the gold passage as a condition, and the teach's figures."""
    (memo_home() / "settings.toml").write_text(FAST)
    assert main(["bench", "--json", "--corpus", "squad", "--questions", "6",
                 "--work", str(tmp_path / "work")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["corpus"]["name"] == "squad" and report["corpus"]["documents"] == 8
    assert report["corpus"]["by_kind"] == {"crowd": 6}
    assert report["corpus"]["distractors"] == 4  # near-topic Wikipedia pages, never asked about
    assert list(report["conditions"]) == ["none", "direct", "combined", "auto", "rag", "gold"]
    assert report["conditions"]["auto"]["mode"] == "combined"
    for name, c in report["conditions"].items():
        assert c["asked"] == 6 and 0 <= c["f1"] <= 1 and c["mean_words"] >= 0, name
        f1s = [a["f1"] for a in c["answers"]]
        assert c["f1"] == round(sum(f1s) / 6, 3)
        assert all(a["f1"] == 1.0 for a in c["answers"] if a["correct"] and
                   a["words"] == 1), name  # a one-word right answer is the gold span itself
    teach = report["teach"]
    assert teach["reflections_per_kb"] > 0 and 0 < teach["sentence_coverage"] <= 1
    assert teach["sentences"] > 100  # 32 paragraphs of Wikipedia
    assert teach["training_tokens_per_source_token"] > 0 and teach["seconds_per_kb"] > 0
    questions = (tmp_path / "work" / "corpus" / "questions.jsonl").read_text().splitlines()
    assert len(questions) == 217 + 48 and '"context": "The Normans' in questions[0]
    unanswerable = [json.loads(q) for q in questions[217:]]
    assert all(q["kind"] == "unanswerable" and q["answers"] == [] for q in unanswerable)
    # Answered again with the memory taught above, without teaching: only the unanswerable.
    corpus = tmp_path / "unanswerable"
    (corpus / "docs").mkdir(parents=True)
    for page in (tmp_path / "work" / "corpus" / "docs").iterdir():
        (corpus / "docs" / page.name).write_text(page.read_text())
    (corpus / "questions.jsonl").write_text("\n".join(questions[217:220]) + "\n")
    assert main(["bench", "--json", "--corpus", str(corpus), "--again", "--work",
                 str(tmp_path / "work"), "--condition", "direct"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["teach"] is None and again["corpus"]["by_kind"] == {"unanswerable": 3}
    direct = again["conditions"]["direct"]
    assert direct["asked"] == 0 and direct["unanswerable"] == 3
    assert direct["abstention"] == round(
        sum(says_unknown(a["answer"]) for a in direct["answers"]) / 3, 3)
    # The distractors taught on top of that memory: then it is no longer the undistracted one.
    assert main(["bench", "--json", "--corpus", "squad", "--again", "--questions", "2",
                 "--work", str(tmp_path / "work"), "--condition", "distractors"]) == 0
    distracted = json.loads(capsys.readouterr().out)
    assert distracted["distractor_teach"]["strategy"] == "incremental"
    assert distracted["distractor_teach"]["reflections"] > teach["reflections"]
    assert distracted["conditions"]["distractors"]["asked"] == 2
    assert main(["bench", "--corpus", "squad", "--again", "--work", str(tmp_path / "work"),
                 "--condition", "direct"]) == 1
    assert "learned the distractors in an earlier run" in capsys.readouterr().err


def test_bench_corpus_must_exist(tiny_model_env, tmp_path: Path, capsys):
    assert main(["bench", "--corpus", str(tmp_path / "nowhere")]) == 2
    assert "neither fiction nor squad nor a folder" in capsys.readouterr().err
