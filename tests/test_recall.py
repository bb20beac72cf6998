"""Answering with memories on a real (tiny) model, a real catalog and taught adapters: the
modes, several memories, the trace and sources, budgets, the exact base with memories off,
streaming and cancelling, memory health, and `memo ask` / `memo on|off`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from memo_mlx.answering.recall import (
    LOCAL,
    Quote,
    Recall,
    RecallError,
    RecallSettings,
    Step,
    agreement,
    parse_questions,
    supporting,
)
from memo_mlx.catalog import Catalog, ChunkText
from memo_mlx.cli import main
from memo_mlx.learning.teach import teach_memory
from memo_mlx.models.endpoint import Endpoint
from memo_mlx.models.runtime import ModelRuntime, Reply
from memo_mlx.scoring import says_unknown, starts_declining
from memo_mlx.sources.chunking import Chunker
from memo_mlx.sources.ingest import add_paths
from servers import free_port
from tiny import FAST_TEACHING

FAST = FAST_TEACHING + """
[health]
min_reflections = 3
"""

DOCS = {
    "facts": {
        "bridge.md": "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by "
                     "Mara Quill. It was finished in 1987 and is 412 metres long. It crosses "
                     "the river Esk.\n",
        "quill.md": "# Mara Quill\n\nMara Quill was born in Tessaly in 1941. She founded the "
                    "Aldren Institute of Bridges in 1990. Her favourite material was copper.\n",
    },
    "town": {
        "aldren.txt": "Port Aldren is a harbour town of 9000 people. Its mayor is Tobias Fenn. "
                      "The town festival, the Lantern Night, is held every October.\n",
    },
}
QUESTION = "Who designed the Hollow Bridge?"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny_q8) -> Iterator[Path]:
    """Two memories taught once on the tiny model, shared by the tests of this module."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("recall")
    home = root / "memo-home"
    home.mkdir()
    (home / "settings.toml").write_text(FAST)
    mp.setenv("MEMO_HOME", str(home))
    mp.setenv("MEMO_MODEL", str(tiny_q8.path))
    with Catalog() as catalog, ModelRuntime() as runtime:
        for name, files in DOCS.items():
            folder = root / name
            folder.mkdir()
            for file, text in files.items():
                (folder / file).write_text(text)
            memory = add_paths(catalog, [folder], name)
            teach_memory(catalog, memory, runtime, chunker=Chunker())
    yield home
    mp.undo()


@pytest.fixture
def env(home: Path, tiny_q8, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MEMO_HOME", str(home))
    monkeypatch.setenv("MEMO_MODEL", str(tiny_q8.path))
    return home


@pytest.fixture
def recall(env) -> Iterator[Recall]:
    with Catalog() as catalog, ModelRuntime() as runtime:
        yield Recall(catalog, runtime, RecallSettings(memory_tokens=12, answer_tokens=12))


def memories(recall: Recall, *names: str):
    return [recall.catalog.memory(n) for n in names]


def test_with_every_memory_off_the_answer_is_the_base_models(recall):
    base = recall.runtime.generate([{"role": "user", "content": QUESTION}],
                                   max_tokens=12).result().text.strip()
    recall.ask(QUESTION, memories(recall, "facts"), mode="direct")  # a memory was attached
    answer = recall.ask(QUESTION, [])
    assert (answer.answer, answer.mode, answer.trace, answer.sources) == (base, "none", [], [])


def test_the_executive_sees_the_chat_so_far_but_memories_the_question_alone(recall):
    history = [{"role": "user", "content": "My name is Ada."},
               {"role": "assistant", "content": "Hello Ada."}]
    follow_up = "What is my name?"
    expected = recall.runtime.generate([*history, {"role": "user", "content": follow_up}],
                                       max_tokens=12).result().text.strip()
    alone = recall.runtime.generate([{"role": "user", "content": follow_up}],
                                    max_tokens=12).result().text.strip()
    assert recall.ask(follow_up, [], history=history).answer == expected
    assert expected != alone  # the history made a difference the test can see
    asked = recall.ask(follow_up, memories(recall, "facts"), mode="direct", history=history)
    assert [s.question for s in asked.trace] == [follow_up]


def test_direct_asks_each_memory_and_cites_its_documents(recall):
    both = memories(recall, "facts", "town")
    answer = recall.ask(QUESTION, both, mode="direct")
    assert answer.mode == "direct" and answer.memories == ["facts", "town"]
    assert [(s.stage, s.memory, s.question) for s in answer.trace] == [
        ("direct", "facts", QUESTION), ("direct", "town", QUESTION)]
    assert all(s.answer and 0 < s.confidence <= 1 for s in answer.trace)
    said = {s.memory: s.answer for s in answer.trace}
    assert answer.answer in (said["facts"], said["town"]) or all(
        f"{m}: {a}" in answer.answer for m, a in said.items())
    folders = {Path(p).parent.name for p in answer.sources}
    assert answer.sources and folders <= {"facts", "town"}


def test_an_unsure_memory_says_it_does_not_know_and_what_was_searched(recall):
    recall.settings = replace(recall.settings, min_confidence=1.01)  # nothing is that sure
    answer = recall.ask(QUESTION, memories(recall, "facts", "town"), mode="direct")
    assert answer.answer == ("I don't know: nothing in the memories 'facts', 'town' answers "
                             "this.")
    assert says_unknown(answer.answer) and answer.sources == []


def test_direct_streams_each_memorys_answer_as_it_is_written(recall):
    facts = memories(recall, "facts")
    pieces: list[str] = []
    answer = recall.ask(QUESTION, facts, mode="direct", on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces).strip() == answer.answer
    assert answer.answer == recall.ask_many([QUESTION], facts, mode="direct")[0].answer
    pieces.clear()
    both = recall.ask(QUESTION, memories(recall, "facts", "town"), mode="direct",
                      on_text=pieces.append)
    streamed = "".join(pieces)
    assert streamed.startswith("facts: ") and "\ntown: " in streamed
    facts_said, town_said = streamed.removeprefix("facts: ").split("\ntown: ")
    said = {s.memory: s.answer for s in both.trace}
    assert said["facts"] == facts_said.strip() or (not facts_said.strip()
                                                   and said["facts"] == "I don't know.")
    assert said["town"] == town_said.strip() or (not town_said.strip()
                                                 and said["town"] == "I don't know.")


def test_combined_reads_the_passages_when_no_passage_states_the_memorys_answer(recall):
    question = "How long is the Hollow Bridge in metres?"
    answer = recall.ask(question, memories(recall, "facts"), mode="combined")
    stages = [s.stage for s in answer.trace]
    assert answer.mode == "combined" and stages[0] == "memory"
    assert answer.trace[0].memory == "facts" and answer.trace[0].question == question
    passages = [s.answer for s in answer.trace if s.stage == "retrieval"]
    assert any("412 metres" in p for p in passages)
    assert Path(answer.sources[0]).name in {"bridge.md", "quill.md"}
    # What the random memory says is in no passage: the trace says it was left out, and the
    # executive read the passages (in turn: test_combined_reads_the_passages_in_turn...).
    note = answer.trace[0].answer
    if not says_unknown(note) and not any(note in p for p in passages):
        assert [s.question for s in answer.trace if s.stage == "check"] == [note]
    assert answer.answer


def test_rag_puts_the_best_chunks_in_context(recall):
    streamed: list[str] = []
    answer = recall.ask("How long is the Hollow Bridge in metres?", memories(recall, "facts"),
                        mode="rag", on_text=streamed.append)
    assert answer.mode == "rag"
    assert answer.trace[0].stage == "retrieval" and "412 metres" in answer.trace[0].answer
    assert Path(answer.sources[0]).name == "bridge.md"
    assert "".join(streamed).strip() == answer.answer


def test_the_protocol_runs_its_stages_within_budget(recall):
    recall.settings = replace(recall.settings, entity_turns=2, seek_turns=1, dead_end=1)
    answer = recall.ask("Where was the designer of the Hollow Bridge born?",
                        memories(recall, "facts", "town"), mode="protocol")
    stages = [s.stage for s in answer.trace]
    assert stages[0] == "grounding" and answer.trace[0].memory is None  # the executive splits
    assert stages[-1] == "synthesis" and answer.trace[-1].answer == answer.answer
    asked = [s for s in answer.trace if s.stage == "grounding" and s.memory]
    assert {s.memory for s in asked} == {"facts", "town"}
    assert asked[0].question == "Where was the designer of the Hollow Bridge born?"
    assert stages.count("entity") <= 2 * 2 and stages.count("seek") <= 1


def test_many_questions_answer_as_one_at_a_time(recall):
    questions = [QUESTION, "When was the Hollow Bridge finished?", "Who is Mara Quill?"]
    facts = memories(recall, "facts")
    many = recall.ask_many(questions, facts, mode="direct")
    single = [recall.ask(q, facts, mode="direct") for q in questions]
    assert [a.answer for a in many] == [a.answer for a in single]


@pytest.mark.parametrize("mode", ["direct", "combined", "rag"])
def test_a_cancelled_answer_is_cancelled_not_unknown(recall, mode):
    cancel = threading.Event()
    cancel.set()
    answer = recall.ask(QUESTION, memories(recall, "facts"), mode=mode, cancel=cancel)
    assert answer.finish_reason == "cancelled" and not says_unknown(answer.answer)
    many = recall.ask_many([QUESTION, "Who is Mara Quill?"], memories(recall, "facts"),
                           mode=mode, cancel=cancel)
    assert [a.finish_reason for a in many] == ["cancelled", "cancelled"]


def test_stop_while_streaming_keeps_what_was_said(recall):
    cancel = threading.Event()
    pieces: list[str] = []

    def on_text(text: str) -> None:
        pieces.append(text)
        if len(pieces) == 2:
            cancel.set()

    answer = recall.ask(QUESTION, memories(recall, "facts"), mode="direct", on_text=on_text,
                        cancel=cancel)
    assert answer.finish_reason == "cancelled" and answer.answer == "".join(pieces).strip()


def test_auto_is_combined_and_the_protocol_check_is_kept(recall, env):
    assert recall.resolve_mode(memories(recall, "facts")) == "combined"
    assert recall.resolve_mode([]) == "none"
    ok, why = recall.executive_can_lead()
    assert not ok and "failed" in why  # a tiny random model cannot split questions
    assert json.loads((env / "cache" / "executive-checks.json").read_text())


def test_an_untaught_memory_says_teach_it_first(recall, tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a.txt").write_text("Nothing taught yet.")
    memory = add_paths(recall.catalog, [tmp_path / "new"], "fresh")
    with pytest.raises(RecallError, match="memo teach --memory fresh"):
        recall.ask(QUESTION, [memory], mode="direct")
    recall.catalog.runs.forget_all(memory.id)


def test_health_is_measured_after_teaching(env):
    with Catalog() as catalog:
        facts = catalog.memory("facts")
        score = catalog.reflections.recall(facts.id)
        probes = catalog.reflections.probes(facts.id)
        taught = {r.id for r in catalog.reflections.of(facts.id) if r.run_id is not None}
    assert score is not None and score.asked == len(probes) > 0
    assert {Path(d.path).name for d in score.documents} <= {"bridge.md", "quill.md"}
    assert not taught & {r.id for r, _, _ in probes}  # held out: never trained on


def test_a_memorys_answer_stands_where_a_passage_states_it_about_what_was_asked():
    passage = ChunkText(1, 1, "/f/bridge.md", None, "", "The Hollow Bridge in Port Aldren was "
                        "designed by Mara Quill. It is 412 metres long.")
    said = Step("memory", QUESTION, "facts", "Mara Quill designed the Hollow Bridge.")
    assert agreement(QUESTION, [said], [passage]) == (
        said, passage, Quote("/f/bridge.md", "The Hollow Bridge in Port Aldren was designed "
                                             "by Mara Quill."))
    # True, and in the passage, but not about what was asked (nor next to a sentence that
    # is): the passages answer.
    town = ChunkText(3, 1, "/f/bridge.md", None, "", "The Hollow Bridge was designed by Mara "
                     "Quill. Port Aldren has a harbour. Its mayor is Tobias Fenn.")
    other = Step("memory", QUESTION, "facts", "Its mayor is Tobias Fenn.")
    assert agreement(QUESTION, [other], [town]) is None
    assert agreement(QUESTION, [Step("memory", QUESTION, "facts", "Tobias Fenn designed "
                                      "it.")], [passage]) is None
    # A sentence about the subject the sentence before it named
    when = "When was the Hollow Bridge finished?"
    finished = ChunkText(2, 1, "/f/bridge.md", None, "", "The Hollow Bridge is in Port Aldren. "
                         "It was finished in 1987.")
    said = Step("memory", when, "facts", "It was finished in 1987.")
    assert agreement(when, [said], [finished]) == (said, finished,
                                                   Quote("/f/bridge.md",
                                                         "It was finished in 1987."))
    assert supporting(QUESTION, "It was designed by Mara Quill.", [passage]) == [
        Quote("/f/bridge.md", "The Hollow Bridge in Port Aldren was designed by Mara Quill.")]
    assert supporting(QUESTION, "I don't know.", [passage]) == []


def test_parse_questions():
    reply = ("1. Who designed the bridge?\n- Where was she born?\nSure!\n2) Ok?\n"
             "Who designed the bridge?")
    assert parse_questions(reply) == ["Who designed the bridge?", "Where was she born?"]


def test_cli_ask_piped_prints_its_sources_and_refuses_blank_input(env, capsys):
    assert main(["ask", QUESTION, "--memory", "facts", "--mode", "direct",
                 "--max-tokens", "8"]) == 0
    out, err = capsys.readouterr()  # not a terminal here: as when piped
    assert out.strip() and "Sources: " in err and "bridge.md" in err
    assert main(["ask", "   "]) == 2
    assert "the question is empty" in capsys.readouterr().err
    assert main(["ask", QUESTION, "--memory", ""]) == 2
    assert "--memory needs a name" in capsys.readouterr().err


def test_cli_ask_json_and_switching_memories_off(env, capsys):
    assert main(["ask", QUESTION, "--json", "--memory", "facts", "--mode", "direct",
                 "--max-tokens", "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"answer", "mode", "memories", "trace", "sources"} <= set(out)
    assert out["mode"] == "direct" and out["memories"] == ["facts"]
    assert out["trace"][0]["stage"] == "direct" and out["trace"][0]["memory"] == "facts"
    assert main(["off", "facts", "--json"]) == 0 and main(["off", "town"]) == 0
    assert json.loads(capsys.readouterr().out)["enabled"] is False
    assert main(["ask", QUESTION, "--json", "--max-tokens", "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["mode"], out["memories"], out["trace"]) == ("none", [], [])
    assert main(["on", "facts"]) == 0 and main(["on", "town"]) == 0
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    facts = next(m for m in status["memories"] if m["name"] == "facts")
    assert facts["enabled"] is True and facts["recall"]["asked"] > 0
    assert main(["ask", QUESTION, "--memory", "facts", "--no-memory"]) == 2
    assert main(["off", "nobody"]) == 1


def test_submit_does_not_block_the_caller(recall):
    gate = threading.Event()
    recall.runtime.submit(lambda _base: gate.wait(30))  # hold the engine thread
    pieces: list[tuple[str, str]] = []
    future = recall.submit(QUESTION, memories(recall, "facts"), mode="rag",
                           on_text=lambda t: pieces.append((t, threading.current_thread().name)))
    assert not future.done()  # the caller went on while the engine was busy
    gate.set()
    answer = future.result(timeout=60)
    assert answer.mode == "rag" and "".join(t for t, _ in pieces).strip() == answer.answer
    assert {name for _, name in pieces} == {"memo-engine"}


READER = Path("reader")  # what `_Reader` takes for the reader adapter


class _Reader:
    """The runtime as combined mode's reading sees it, with a model whose replies are set by
    the test: memories answer "Tobias Fenn." (which only the town memory's passage
    states), and the reader's reply to a passage is `says(prompt, reads so far)`.
    The control flow of reading passages in turn is what is tested here (which passage, the
    trace, what is streamed, Stop); whether a trained reader declines the right passages is
    measured on real text (`memo bench`, tests/test_teach_real.py)."""

    def __init__(self, runtime: ModelRuntime, says):
        self.loaded = runtime.loaded  # the same base: the memories' adapters are usable
        self.prompt_tokens = runtime.prompt_tokens  # what a question's length is checked by
        self.says, self.read = says, []

    def _reply(self, chat: list[dict[str, str]], adapter: Path | None) -> Reply:
        if adapter not in (None, READER):
            text = "Tobias Fenn."
        else:
            self.read.append(chat[-1]["content"])
            text = self.says(chat[-1]["content"], len(self.read))
        return Reply(text, "stop", 10, len(text.split()), 100.0, 100.0, 0.1, 0.9)

    def generate(self, chat, *, on_text=None, cancel=None, max_tokens=None, adapter=None):
        reply = self._reply(chat, adapter)
        for word in reply.text.split(" "):
            if on_text is not None:
                on_text(word + " ")
        return _done(reply)

    def generate_batch(self, chats, *, adapter=None, max_tokens=None, cancel=None, **_):
        return _done([self._reply(chat, adapter) for chat in chats])

    def with_system(self, messages, adapter):
        return messages


def _done(value: object) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _combined(recall: Recall, says) -> Recall:
    combined = Recall(recall.catalog, _Reader(recall.runtime, says),
                      RecallSettings(mode="combined", rag_chunks=2))
    combined._reader_dir, combined._reader_looked = READER, True
    return combined


@pytest.mark.parametrize("answers", [True, False])
def test_a_memorys_answer_a_passage_states_stands_unless_the_reader_declines_it(recall, answers):
    combined = _combined(recall, lambda passage, reads: "Tobias Fenn is the mayor." if answers
                         else "I don't know.")
    streamed: list[str] = []
    answer = combined.ask("Who is the mayor of Port Aldren?", memories(recall, "town"),
                          on_text=streamed.append)
    read = combined.runtime.read
    assert len(read) == 1 and "Its mayor is Tobias Fenn." in read[0]  # the agreeing passage
    checks = [s.answer for s in answer.trace if s.stage == "check"]
    if answers:
        assert answer.answer == "Tobias Fenn." == "".join(streamed)
        assert checks == [f"{answer.sources[0]} says: Its mayor is Tobias Fenn."]
        assert [q.text for q in answer.quotes] == ["Its mayor is Tobias Fenn."]
    else:  # that passage declined, and it is the town's only one: nothing else is read
        assert checks == [f"{answer.sources[0]} states it, but does not answer the "
                          "question: the passages answer"]
        assert [s.answer for s in answer.trace if s.stage == "read"] == [
            f"{answer.sources[0]}: does not say"]
        assert answer.answer.startswith("I don't know: nothing in the memory 'town'")
        assert answer.quotes == []


@pytest.mark.parametrize("declines", [0, 1, 9])
def test_combined_reads_the_passages_in_turn_until_one_answers(recall, declines):
    combined = _combined(recall, lambda passage, reads: "I don't know." if reads <= declines
                         else "It is 412 metres.")
    streamed: list[str] = []
    answer = combined.ask("How long is the Hollow Bridge in metres?",
                          memories(recall, "facts"), on_text=streamed.append)
    passages = [s.answer.split(":")[0] for s in answer.trace if s.stage == "retrieval"]
    declined = [s.answer for s in answer.trace if s.stage == "read"]
    assert len(passages) == 2 and len(combined.runtime.read) == min(declines + 1, 2)
    assert declined == [f"{p}: does not say" for p in passages[:min(declines, 2)]]
    if declines < 2:
        assert answer.answer == "It is 412 metres."
        assert answer.sources == [passages[declines]]  # the passage that answered
        assert all(q.path == passages[declines] for q in answer.quotes)
        assert answer.quotes or declines
        assert "".join(streamed).strip() == answer.answer  # no decline was ever shown
    else:
        assert answer.answer.startswith("I don't know: nothing in the memory 'facts' and "
                                        "the documents it was taught")
        assert answer.quotes == [] and answer.sources == passages  # what was searched
        assert "".join(streamed).strip() == "I don't know."  # the last passage's, unheld


def test_combined_reads_each_question_of_a_batch_until_its_own_answer(recall):
    def says(prompt: str, reads: int) -> str:  # the passage holds it, and it was asked
        return "It is 412 metres." if "412" in prompt and "How long" in prompt else (
            "I don't know.")

    combined = _combined(recall, says)
    bridge, mayor = combined.ask_many(["How long is the Hollow Bridge in metres?",
                                       "Who is the mayor of Port Aldren?"],
                                      memories(recall, "facts"))
    assert bridge.answer == "It is 412 metres." and Path(bridge.sources[0]).name == "bridge.md"
    assert len([s for s in mayor.trace if s.stage == "read"]) == len(mayor.passages) == 2
    assert mayor.answer.startswith("I don't know: nothing in the memory 'facts'")


def test_stop_between_passages_is_cancelled_not_unknown(recall):
    stop = threading.Event()

    def says(passage: str, reads: int) -> str:
        stop.set()  # Stop pressed while the first passage was read
        return "I don't know."

    combined = _combined(recall, says)
    answer = combined.ask("How long is the Hollow Bridge in metres?",
                          memories(recall, "facts"), cancel=stop)
    assert answer.finish_reason == "cancelled" and not says_unknown(answer.answer)
    assert len(combined.runtime.read) == 1


# --- a chat server as the executive -----------------------------------------------------------


class Observed(Endpoint):
    """mlx-lm's real server, with the chats sent to it written down."""

    def __init__(self, url: str):
        super().__init__(url)
        self.sent: list[list[dict[str, str]]] = []
        self.said: list[str] = []

    def chat(self, messages, max_tokens, **kwargs):  # type: ignore[no-untyped-def, override]
        self.sent.append(messages)
        reply = super().chat(messages, max_tokens, **kwargs)
        self.said.append(reply.text)
        return reply


def test_a_server_is_the_executive_and_the_memories_stay_local(recall, tiny_server):
    server = Observed(tiny_server)
    on_server = Recall(recall.catalog, recall.runtime, recall.settings, executive=server)
    pieces: list[str] = []
    alone = on_server.ask(QUESTION, [], on_text=pieces.append)
    assert alone.executive == server.name and alone.trace == []
    assert alone.answer == "".join(pieces).strip() == Endpoint(tiny_server).chat(
        [{"role": "user", "content": QUESTION}], 12).text.strip()
    server.sent.clear()
    answer = on_server.ask(QUESTION, memories(recall, "facts"), mode="combined")
    assert answer.executive == server.name and answer.finish_reason != "cancelled"
    assert [s.memory for s in answer.trace if s.stage == "memory"] == ["facts"]
    assert not [s for s in answer.trace if s.stage == "executive"]  # nothing fell back
    read = [s for s in answer.trace if s.stage == "retrieval"]
    assert read and server.sent  # the passages went to the server, the memory was not asked
    assert all(QUESTION in chat[-1]["content"] for chat in server.sent)
    assert json.loads(json.dumps(answer.to_json()))["executive"] == server.name


def test_a_server_that_fails_leaves_the_answer_to_this_computer(recall):
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    down = Recall(recall.catalog, recall.runtime, recall.settings, executive=Endpoint(url))
    local = recall.ask(QUESTION, [])
    answer = down.ask(QUESTION, [])
    assert answer.answer == local.answer and answer.executive == LOCAL
    assert [(s.stage, s.memory) for s in answer.trace] == [("executive", None)]
    assert "no server is running there (connection refused); answered with this computer's" \
        in answer.trace[0].answer
    ok, why = down.executive_can_lead()
    assert not ok and "no server is running there" in why  # no verdict kept: it may start
    assert down.resolve_mode(memories(recall, "facts")) == "combined"


def test_auto_with_a_server_that_cannot_lead_is_combined(recall, tiny_server, env):
    on_server = Recall(recall.catalog, recall.runtime, recall.settings,
                       executive=Endpoint(tiny_server))
    assert on_server.resolve_mode(memories(recall, "facts")) == "combined"
    kept = json.loads((env / "cache" / "executive-checks.json").read_text())
    assert kept[f"endpoint:{on_server.executive.name}"][0] is False  # a tiny random model


def test_cli_ask_with_a_server_as_executive(env, tiny_server, capsys):
    assert main(["ask", QUESTION, "--json", "--memory", "facts", "--mode", "combined",
                 "--max-tokens", "8", "--executive", tiny_server]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["executive"].endswith(f"at {tiny_server}") and out["memories"] == ["facts"]
    assert not [s for s in out["trace"] if s["stage"] == "executive"]
    assert main(["ask", QUESTION, "--no-memory", "--executive", "http://10.0.0.7:1234/v1"]) == 2
    assert "10.0.0.7 is not this computer" in capsys.readouterr().err
    # Allowed, a server elsewhere: this test cannot reach it (the suite's network guard), so
    # the answer is this computer's, and says why.
    assert main(["ask", QUESTION, "--no-memory", "--max-tokens", "4", "--allow-remote",
                 "--executive", "http://10.0.0.7:1234/v1"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("memo: http://10.0.0.7:1234/v1: the connection failed")
    assert err.rstrip().endswith("; answered with this computer's model")


def test_a_server_executive_checks_the_memorys_agreement(recall, tiny_server):
    """With a server as the executive (no reader adapter there), the server is asked the
    question of the passage that states the memory's answer: the check the reader makes."""
    server = Observed(tiny_server)
    combined = Recall(recall.catalog, _Reader(recall.runtime, lambda *_: "unused"),
                      RecallSettings(mode="combined", rag_chunks=2), executive=server)
    answer = combined.ask("Who is the mayor of Port Aldren?", memories(recall, "town"))
    [check] = server.sent
    assert "Its mayor is Tobias Fenn." in check[-1]["content"]
    assert "Who is the mayor of Port Aldren?" in check[-1]["content"]
    assert answer.executive == server.name and combined.runtime.read == []
    checked = [s.answer for s in answer.trace if s.stage == "check"]
    if starts_declining(server.said[0].strip()):  # the tiny random model's reply decides
        assert checked[0].endswith("does not answer the question: the passages answer")
        assert answer.answer.startswith("I don't know")
    else:
        assert answer.answer == "Tobias Fenn."  # the memory's answer stands, quoted
        assert [q.text for q in answer.quotes] == ["Its mayor is Tobias Fenn."]


def test_a_server_that_fails_leaves_the_reading_to_the_reader(recall):
    """The server down: the check and the reading fall back to this computer's model with
    its reader adapter, as if no server had been named, and the trace says why once."""
    down = Recall(recall.catalog, _Reader(recall.runtime, lambda passage, reads: "I don't know."),
                  RecallSettings(mode="combined", rag_chunks=2),
                  executive=Endpoint(f"http://127.0.0.1:{free_port()}/v1"))
    down._reader_dir, down._reader_looked = READER, True
    answer = down.ask("Who is the mayor of Port Aldren?", memories(recall, "town"))
    assert len(down.runtime.read) == 1 and "Its mayor is Tobias Fenn." in down.runtime.read[0]
    [failed] = [s.answer for s in answer.trace if s.stage == "executive"]
    assert "no server is running there" in failed and answer.executive == LOCAL
    assert answer.answer.startswith("I don't know")  # the reader declined the passage


def test_a_question_that_does_not_fit_is_refused_before_any_generation(recall):
    """The rule: the question's prompt tokens plus the answer's room (12 tokens here) within
    the model's context (the tiny model's 512). One token less fits; more is refused, in every
    mode and in a batch, before anything is generated."""
    from memo_mlx.answering.recall import QuestionTooLong, user

    def tokens(k: int) -> int:
        return recall.runtime.prompt_tokens([user("the hat " * k)]).result()[0]

    low, high = 1, 400  # the most repeats that fit
    assert tokens(low) + 12 <= 512 < tokens(high) + 12
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if tokens(mid) + 12 <= 512 else (low, mid)
    fits, too_long = "the hat " * low, "the hat " * high
    assert recall.ask(fits, memories(recall, "facts"), mode="direct").trace
    for mode in ("direct", "combined", "rag"):
        with pytest.raises(QuestionTooLong, match=rf"^the question is {tokens(high)} tokens; "
                                                  "this model reads at most 512 tokens, 12 of "
                                                  "them kept for the answer: shorten it$"):
            recall.ask(too_long, memories(recall, "facts"), mode=mode)
    with pytest.raises(QuestionTooLong):
        recall.ask(too_long, [])
    with pytest.raises(QuestionTooLong):
        recall.ask_many([fits, too_long], memories(recall, "facts"), mode="direct")
