"""Reflection synthesis through the catalog: every chunk covered, steps counted, resumable,
model generators used only when they pass their check, an OpenAI-style endpoint on loopback."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from memo_mlx.catalog import Catalog
from memo_mlx.models.base import resolve_source
from memo_mlx.models.endpoint import Endpoint
from memo_mlx.reflections.synthesis import (
    STEPS,
    EndpointGenerator,
    SynthesisError,
    SynthesisProgress,
    SynthesisSettings,
    check_generator,
    configured_generator,
    parse_pairs,
    synthesize,
)
from memo_mlx.reflections.writer import Passage, Written
from memo_mlx.sources.chunking import Chunker, ChunkSettings
from memo_mlx.sources.ingest import add_paths, scan_memory

BRIDGE = (
    "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by Mara Quill. "
    "It was finished in 1987 and is 412 metres long.\n"
)
QUILL = (
    "# Mara Quill\n\nMara Quill was born in Tessaly in 1941. She founded the Aldren Institute "
    "of Bridges in 1990.\n"
)


@pytest.fixture
def taught_folder(tmp_path: Path, tiny_q8) -> Iterator[tuple[Catalog, Path]]:
    root = tmp_path / "facts"
    root.mkdir()
    (root / "bridge.md").write_text(BRIDGE)
    (root / "quill.md").write_text(QUILL)
    with Catalog() as catalog:
        memory = add_paths(catalog, [root], "facts")
        chunker = Chunker(resolve_source(str(tiny_q8.path)), ChunkSettings(256, 16))
        scan_memory(catalog, memory, chunker)
        yield catalog, root


def questions(catalog: Catalog) -> dict[str, str]:
    """The question-answer reflections (not the text passages)."""
    memory = catalog.memories()[0]
    return {r.question: r.answer for r in catalog.reflections.of(memory.id) if r.kind != "text"}


def test_rules_cover_every_chunk_with_self_contained_pairs(taught_folder):
    catalog, root = taught_folder
    memory = catalog.memories()[0]
    seen: list[SynthesisProgress] = []
    report = synthesize(catalog, memory, generator=None, on_progress=seen.append)
    assert report.generator == "rules" and report.chunks == 2 and report.pairs >= 6
    assert set(report.steps) == set(STEPS)
    assert report.steps["direct"].produced > 0 and report.steps["entity"].produced > 0
    assert report.pairs == sum(c.produced for c in report.steps.values())
    pairs = questions(catalog)
    assert any("1987" in a and "Hollow Bridge" in q for q, a in pairs.items())
    for q in pairs:
        assert q.endswith("?") and not re.search(r"\b(the text|the passage)\b", q, re.I)
    # every chunk is marked done and its reflections name their sources
    assert catalog.sources.untaught_chunks(memory.id) == []
    sources = catalog.reflections.sources([r.id for r in catalog.reflections.of(memory.id)])
    assert {p for paths in sources.values() for p in paths} == {
        str(root / "bridge.md"), str(root / "quill.md")}
    assert {(s.step) for s in seen} >= {"direct", "indirect", "consolidated", "entity", "cross"}


def test_cross_document_pairs_cite_both_chunks(taught_folder):
    catalog, root = taught_folder
    memory = catalog.memories()[0]
    report = synthesize(catalog, memory)
    assert report.steps["cross"].produced >= 1
    cross = [r for r in catalog.reflections.of(memory.id) if r.kind == "cross"]
    sources = catalog.reflections.sources([r.id for r in cross])
    assert all(len(paths) == 2 for paths in sources.values())


class _FirstSentenceWriter:
    """Asks one question of each page's first sentence: a stand-in for the trained writer,
    whose own output is judged on real documents in tests/test_realdocs.py. What is tested
    here is how synthesis joins the writer's pairs with the rules' steps."""

    name = "writer"

    def write(self, passages: list[Passage], cancel: object = None) -> list[Written]:
        first = passages[0]
        return [Written(f"What does {first.title} say?", first.title, first.sentence, "direct")]


def test_the_writer_is_joined_by_reverse_and_cross_document_questions_only(taught_folder):
    catalog, root = taught_folder
    memory = catalog.memories()[0]
    report = synthesize(catalog, memory, writer=_FirstSentenceWriter())  # type: ignore[arg-type]
    assert report.generator == "writer"
    pairs = questions(catalog)
    # the writer's question is answered by its whole sentence
    assert pairs["What does Mara Quill say?"] == "Mara Quill was born in Tessaly in 1941."
    assert report.steps["direct"].produced == 2  # the writer's, no rule's
    assert report.steps["entity"].produced > 0 and report.steps["cross"].produced > 0
    # two sentences joined into one claim are left to a model that can be checked
    assert report.steps["indirect"].produced == report.steps["consolidated"].produced == 0


def test_only_new_chunks_are_synthesized_and_a_cancel_resumes(taught_folder, tiny_q8):
    catalog, root = taught_folder
    memory = catalog.memories()[0]
    cancel = threading.Event()

    def stop_after_first(p: SynthesisProgress) -> None:
        if p.done == 1:
            cancel.set()

    first = synthesize(catalog, memory, on_progress=stop_after_first, cancel=cancel)
    assert first.cancelled and first.chunks == 1
    second = synthesize(catalog, memory)
    assert second.chunks == 1  # only the unfinished one
    assert synthesize(catalog, memory).chunks == 0
    (root / "new.md").write_text("# Port Aldren\n\nPort Aldren has 9000 residents.\n")
    scan_memory(catalog, memory, Chunker(resolve_source(str(tiny_q8.path))))
    third = synthesize(catalog, memory)
    assert third.chunks == 1
    assert any("9000" in a for a in questions(catalog).values())


# --- model generators -----------------------------------------------------------------------


class FakeChat(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat server on loopback that answers like a capable model would for
    the passages of these tests (what it writes is fixed; what MeMo does with it is tested)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name): the models it serves
        data = json.dumps({"data": [{"id": "big-model"}, {"id": "tiny-model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        if "Hollow Bridge" in text and "Mara Quill was born" not in text:
            reply = ("Q: Who designed the Hollow Bridge?\nA: Mara Quill designed the Hollow "
                     "Bridge.\nQ: When was the Hollow Bridge finished?\nA: The Hollow Bridge was "
                     "finished in 1987.\nQ: How long is the Hollow Bridge?\nA: The Hollow Bridge "
                     "is 412 metres long.\nQ: What does the text say?\nA: It says 99 things.")
        else:
            reply = ("Q: Where was Mara Quill born?\nA: Mara Quill was born in Tessaly.\n"
                     "Q: When did Mara Quill found the Aldren Institute of Bridges?\nA: Mara "
                     "Quill founded the Aldren Institute of Bridges in 1990.")
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data.encode())

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[FakeChat]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def test_a_capable_endpoint_writes_verified_pairs(taught_folder):
    catalog, _ = taught_folder
    memory = catalog.memories()[0]
    server, url = serve(FakeChat)
    try:
        generator = EndpointGenerator(Endpoint(url, "big-model"))
        report = synthesize(catalog, memory, generator=generator)
    finally:
        server.shutdown()
    assert report.generator == generator.name and "verified" in report.model_check
    pairs = questions(catalog)
    assert pairs["Who designed the Hollow Bridge?"] == "Mara Quill designed the Hollow Bridge."
    assert "What does the text say?" not in pairs  # failed verification, rewrite failed too
    assert report.steps["direct"].discarded >= 1


def test_a_served_model_that_cannot_write_pairs_falls_back_to_rules(taught_folder,
                                                                    tiny_server):
    """mlx-lm's real server, serving the tiny random model, as the writer: it is asked, its
    pairs fail the check, and the rules write the reflections."""
    catalog, _ = taught_folder
    memory = catalog.memories()[0]
    generator = EndpointGenerator(Endpoint(tiny_server))
    ok, why = check_generator(generator, SynthesisSettings())
    assert not ok and "usable pairs" in why and generator.name in why
    report = synthesize(catalog, memory, generator=generator)
    assert report.generator == "rules" and report.pairs >= 6


def test_an_endpoint_that_is_down_or_elsewhere_is_a_clear_error():
    with pytest.raises(SynthesisError, match="is not a server address"):
        configured_generator(None, "localhost:1234", "m")
    with pytest.raises(SynthesisError, match="10.1.2.3 is not this computer"):
        configured_generator(None, "http://10.1.2.3:1234/v1", "m")
    generator = configured_generator(None, "http://127.0.0.1:9/v1", "m")
    with pytest.raises(SynthesisError, match="no server is running there"):
        generator.chat([{"role": "user", "content": "hi"}], 5)


def test_parse_pairs():
    reply = "Sure!\nQ: Who is Ada?\nA: Ada is a cat.\n\nq) What is 2+2?\na) 2+2 is 4.\nQ: none"
    assert parse_pairs(reply) == [("Who is Ada?", "Ada is a cat."), ("What is 2+2?", "2+2 is 4.")]


def test_the_suite_cannot_reach_the_network():
    with pytest.raises(OSError, match="network access attempted"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


def test_the_text_itself_is_taught_beside_the_questions(taught_folder):
    catalog, _ = taught_folder
    memory = catalog.memories()[0]
    report = synthesize(catalog, memory, generator=None)
    text = [r for r in catalog.reflections.of(memory.id) if r.kind == "text"]
    assert report.steps["text"].produced == len(text) == 2  # one passage of each short page
    said = " ".join(r.answer for r in text)
    assert "designed by Mara Quill" in said and "founded the Aldren Institute" in said
    assert all(r.question.startswith(("The Hollow Bridge: ", "Mara Quill: ")) for r in text)


def test_other_languages_get_no_english_templates(tmp_path: Path, tiny_q8):
    root = tmp_path / "seiten"
    root.mkdir()
    (root / "tor.md").write_text(
        "# Brandenburger Tor\n\nDas Brandenburger Tor in Berlin ist ein Triumphtor. Es wurde "
        "von 1789 bis 1793 errichtet. Der Architekt war Carl Gotthard Langhans.\n")
    with Catalog() as catalog:
        memory = add_paths(catalog, [root], "seiten")
        scan_memory(catalog, memory,
                    Chunker(resolve_source(str(tiny_q8.path)), ChunkSettings(256, 16)))
        synthesize(catalog, memory, generator=None)
        kinds = {r.kind for r in catalog.reflections.of(memory.id)}
        assert kinds == {"text"}  # its own text, no "What did Das Brandenburger...?"


DECLINING = SynthesisSettings(abstain_share=0.1)


def test_a_memory_is_taught_to_decline_its_questions_asked_of_names_it_never_read(taught_folder):
    catalog, root = taught_folder
    memory = catalog.memories()[0]
    report = synthesize(catalog, memory, settings=DECLINING)
    taught = [r for r in catalog.reflections.of(memory.id) if r.kind not in ("text", "abstain")]
    declined = [r for r in catalog.reflections.of(memory.id) if r.kind == "abstain"]
    assert report.steps["abstain"].produced == len(declined) >= 2  # one per chunk at least
    for r in declined:
        assert r.answer == "I don't know."
        # one of the memory's own questions with a name of its folder swapped for a name that
        # none of its documents holds
        swaps = [_swap(t.question, r.question) for t in taught]
        mentions = catalog.sources.mentions
        assert any(old and mentions(memory.id, old) and not mentions(memory.id, new)
                   for old, new in swaps), r.question


def _swap(a: str, b: str) -> tuple[str, str]:
    """The words of `a` that `b` replaced (old, new), if what differs is one name (capitalised
    words for it); else ("", "")."""
    x, y = a.rstrip("?").split(), b.rstrip("?").split()
    prefix = 0
    while prefix < min(len(x), len(y)) and x[prefix] == y[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(x), len(y)) - prefix and x[-1 - suffix] == y[-1 - suffix]:
        suffix += 1
    old, new = x[prefix:len(x) - suffix], y[prefix:len(y) - suffix]
    if not old or not new or not all(w[:1].isupper() for w in new + old[:1]):
        return "", ""
    return " ".join(old), " ".join(new)


def test_the_same_chunk_declines_the_same_questions_when_redone(tmp_path: Path, tiny_q8):
    def declined() -> list[str]:
        root = tmp_path / "facts"
        root.mkdir(exist_ok=True)
        (root / "quill.md").write_text(QUILL)
        with Catalog(tmp_path / f"{len(list(tmp_path.iterdir()))}.db") as catalog:
            memory = add_paths(catalog, [root], "facts")
            scan_memory(catalog, memory,
                        Chunker(resolve_source(str(tiny_q8.path)), ChunkSettings(256, 16)))
            synthesize(catalog, memory, settings=DECLINING)
            return [r.question for r in catalog.reflections.of(memory.id) if r.kind == "abstain"]

    first = declined()
    assert first and declined() == first


def test_abstention_can_be_turned_off(taught_folder):
    catalog, _ = taught_folder
    memory = catalog.memories()[0]
    report = synthesize(catalog, memory, settings=SynthesisSettings(abstain_share=0.0))
    assert not [r for r in catalog.reflections.of(memory.id) if r.kind == "abstain"]
    assert report.steps["abstain"].produced == 0
