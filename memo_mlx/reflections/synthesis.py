"""Reflection synthesis: the question-answer pairs a memory is trained on.

The method of MeMo (arXiv 2605.15156) in five steps, run for every chunk not yet taught:
1. direct facts, 2. indirect facts (two statements combined), 3. consolidation of pairs about one
subject into multi-fact questions, 4. entity surfacing (reverse "which one?" questions answered
by a name), 5. cross-document questions over chunks that share names. Every pair of every step
goes through verification: the question must stand on its own (names its subject, no "the text",
no dangling pronoun) and the answer must be supported by the source, checked, not assumed; a
model-written pair that fails gets one rewrite, then is discarded.

A generator is a chat model: the active local base model, or any OpenAI-compatible endpoint the
user names (LM Studio, Ollama: a bigger model, still on the machine). It is used only if it passes
a self-check on a known passage; the bundled 135M model does not (it repeats one question and
writes no answers). It has its learned writer instead (`writer`: questions per sentence, each
answered by its sentence), with the rules' reverse and cross-document questions beside it; any
other model that fails the check gets the rules (`derive`): who writes is the first of
`AUTHORS` offered what it needs. A step a model leaves empty is filled by rule. The text itself
is taught beside the pairs, and (`abstain_share`) a few of the pairs' questions asked of names
no document mentions, answered "I don't know" (`abstain`).

Resumable: a chunk's reflections, its names and its "done" mark are stored in one transaction, so
a killed or cancelled run redoes only the chunks it had not finished. Prompts are files in
`resources/prompts/`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..answering.abstain import abstentions
from ..catalog import Catalog, ChunkText, Memory, NewReflection
from ..errors import MemoError
from ..models.endpoint import Endpoint, EndpointError, remote_allowed
from ..scoring import question_key
from ..settings import (
    from_section,
    keep_verdict,
    known_verdict,
    load_defaults,
    prompt,
    resources_dir,
)
from . import derive
from .language import is_english
from .writer import Writer, passages_of

STEPS = ("direct", "indirect", "consolidated", "entity", "cross", "text", "abstain")
_PAIR = re.compile(r"^\s*Q\s*[:.)-]\s*(?P<q>.+?)\s*\n\s*A\s*[:.)-]\s*(?P<a>.+?)\s*$", re.M | re.I)

Message = dict[str, str]
# A writer's reply is up to `max_tokens` of pairs from a model that may be slow and large.
WRITER_TIMEOUT_SECONDS = 300.0


class SynthesisError(MemoError):
    pass


@dataclass(frozen=True)
class SynthesisSettings:
    pairs_per_step: int = 8  # what a model is asked for per step and chunk
    related_chunks: int = 3  # partners per chunk for cross-document questions
    max_tokens: int = 512  # per model reply
    # The learned writer (`writer`) for the bundled model; off: rules, as before it.
    writer: bool = True
    # Of a chunk's questions, the share also asked of a name no document mentions and answered
    # "I don't know" (`abstain`); at least one per chunk that has a question with a name.
    abstain_share: float = 0.0

    @classmethod
    def from_defaults(cls) -> SynthesisSettings:
        return from_section(cls, "synthesis")


class Generator(Protocol):
    """A chat model that writes reflections."""

    @property
    def name(self) -> str: ...  # who it is, in reports and as the key of its kept verdict

    def chat(self, messages: list[Message], max_tokens: int) -> str: ...


class LocalGenerator:
    """The active base model, through the engine thread that owns it."""

    def __init__(self, runtime: Any, name: str):
        self.runtime = runtime
        self.name = f"local:{name}"

    def chat(self, messages: list[Message], max_tokens: int) -> str:
        return str(self.runtime.generate(messages, max_tokens=max_tokens).result().text)


class EndpointGenerator:
    """A chat server the user named (`endpoint.Endpoint`, e.g. http://localhost:1234/v1)
    writing the reflections."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint

    @property
    def name(self) -> str:
        """The self-check's verdict is kept under this name: the model the server serves, once
        it can be asked (a verdict must not pass to another model loaded later)."""
        try:
            self.endpoint.model()
        except EndpointError:
            pass  # named by its address; no verdict is kept for a server that failed
        return f"endpoint:{self.endpoint.name}"

    def chat(self, messages: list[Message], max_tokens: int) -> str:
        try:
            return self.endpoint.chat(messages, max_tokens).text
        except EndpointError as e:
            raise SynthesisError(str(e)) from e


@dataclass
class StepCount:
    produced: int = 0  # pairs kept
    discarded: int = 0  # pairs that failed verification or repeated another


@dataclass(frozen=True)
class SynthesisProgress:
    done: int  # chunks finished
    total: int
    step: str
    path: str


@dataclass
class SynthesisReport:
    generator: str  # who wrote the reflections: a model, or "rules"
    chunks: int = 0  # chunks synthesized in this run
    pairs: int = 0
    steps: dict[str, StepCount] = field(default_factory=lambda: {s: StepCount() for s in STEPS})
    by_rule: int = 0  # steps a model left empty, filled by rule
    model_check: str = ""  # why a model generator was (not) used
    cancelled: bool = False
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "generator": self.generator, "chunks": self.chunks, "pairs": self.pairs,
            "steps": {k: {"produced": v.produced, "discarded": v.discarded}
                      for k, v in self.steps.items()},
            "filled_by_rule": self.by_rule, "model_check": self.model_check,
            "cancelled": self.cancelled, "seconds": round(self.seconds, 3),
        }


def parse_pairs(reply: str) -> list[tuple[str, str]]:
    """The "Q: ... / A: ..." pairs of a model's reply."""
    return [(m["q"], m["a"]) for m in _PAIR.finditer(reply) if m["q"].lower() != "none"]


def check_generator(generator: Generator, settings: SynthesisSettings) -> tuple[bool, str]:
    """Whether `generator` writes usable reflections: asked about a known passage, at least three
    of its pairs must stand on their own and be supported by the passage. The verdict is kept
    in MEMO_HOME: a slow local model is tested once, not at every teach."""
    known = known_verdict("generator-checks", generator.name)
    if known is not None:
        return known
    passage = (resources_dir() / "prompts" / "selfcheck.txt").read_text().strip()
    try:
        reply = generator.chat(
            [{"role": "user", "content": prompt("direct", text=passage, context="a test",
                                                count=5)}],
            min(settings.max_tokens, 256),
        )
    except SynthesisError as e:  # not a verdict: the endpoint may be up next time
        return False, str(e)
    pairs = parse_pairs(reply)
    good = [p for p in pairs if _verified(*p, passage)]
    verdict = (True, f"{len(good)} of {len(pairs)} test pairs verified") if len(good) >= 3 else (
        False, f"{generator.name} wrote {len(good)} usable pairs of {len(pairs)} on a test "
               "passage; reflections are derived from the text by rule")
    keep_verdict("generator-checks", generator.name, verdict)
    return verdict


def _verified(question: str, answer: str, source: str) -> bool:
    return (question.endswith("?") and derive.self_contained(question)
            and derive.supported(answer, source))


def configured_generator(runtime: Any, url: str | None = None, model: str | None = None,
                         allow_remote: bool | None = None) -> Generator:
    """Who writes reflections: the server given (`memo teach --generator`) or set in
    `[synthesis] generator_url`, else this computer's model through `runtime`. A server not
    on this computer needs `allow_remote` (default: `[privacy] allow_remote`)."""
    section = load_defaults().get("synthesis", {})
    url = url or section.get("generator_url") or None
    if url:
        # "local-model": the placeholder earlier versions saved; now "" asks for the one the
        # server serves.
        named = model or section.get("generator_model") or ""
        try:
            endpoint = Endpoint(url, "" if named == "local-model" else named,
                                allow_remote=remote_allowed(allow_remote),
                                timeout=WRITER_TIMEOUT_SECONDS)
        except EndpointError as e:
            raise SynthesisError(str(e)) from e
        return EndpointGenerator(endpoint)
    return LocalGenerator(runtime, runtime.loaded.result().source.name)


def synthesize(
    catalog: Catalog,
    memory: Memory,
    *,
    generator: Generator | None = None,
    writer: Writer | None = None,
    settings: SynthesisSettings | None = None,
    on_progress: Callable[[SynthesisProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> SynthesisReport:
    """Write reflections for every chunk of the memory not yet taught (see the module doc)."""
    settings = settings or SynthesisSettings.from_defaults()
    start = time.perf_counter()
    chunks = catalog.sources.untaught_chunks(memory.id)
    use_model, why = (False, "no model generator")
    if generator is not None and chunks:
        use_model, why = check_generator(generator, settings)
    offered = _Offered(generator if use_model else None, writer if settings.writer else None,
                       settings)
    # The rules, last, are always offered what they need.
    author = next(a for a in (choose(offered) for choose in AUTHORS) if a is not None)
    report = SynthesisReport(generator=author.name, model_check=why)
    for index, chunk in enumerate(chunks):
        if cancel is not None and cancel.is_set():
            report.cancelled = True
            break

        def progress(step: str, index: int = index, chunk: ChunkText = chunk) -> None:
            if on_progress is not None:
                on_progress(SynthesisProgress(index, len(chunks), step, chunk.path))

        reflections, names = _chunk_reflections(catalog, memory, chunk, author, settings,
                                                report, progress, cancel)
        if cancel is not None and cancel.is_set():  # mid-chunk: redone whole next time
            report.cancelled = True
            break
        catalog.reflections.save(memory.id, chunk.id, reflections, names, report.generator)
        report.chunks += 1
        report.pairs += len(reflections)
    report.seconds = time.perf_counter() - start
    return report


def context_of(chunk: ChunkText) -> str:
    """What a chunk is about, for questions that must name their subject."""
    return chunk.heading or chunk.title or Path(chunk.path).stem.replace("_", " ")


def _chunk_reflections(
    catalog: Catalog,
    memory: Memory,
    chunk: ChunkText,
    author: Author,
    settings: SynthesisSettings,
    report: SynthesisReport,
    progress: Callable[[str], None],
    cancel: threading.Event | None,
) -> tuple[list[NewReflection], list[str]]:
    """A chunk's reflections: its text, the author's pairs, cross-document pairs with the
    chunks that share its names, and abstentions; and the names it mentions."""
    context = context_of(chunk)
    kept = ChunkPairs(report)
    own = (chunk.id,)
    names = derive.entities(chunk.text)
    progress("text")
    kept.add("text", text_reflections(chunk.text, context), own)
    # English rules and a writer trained on English questions would write templates over
    # foreign words: another language is taught by its own text alone.
    if not is_english(chunk.text):
        return kept.reflections(), names
    author.write(chunk, context, kept, progress, cancel)

    progress("cross")
    partners = catalog.sources.chunk_texts(
        catalog.sources.related_chunks(memory.id, names, chunk.id, settings.related_chunks)
    )
    for other in partners:
        author.cross(chunk, context, other, kept)

    if settings.abstain_share:
        progress("abstain")
        questions = [r.question for r in kept.reflections() if r.kind != "text"]

        def known(name: str) -> bool:  # this chunk is saved with its reflections, after this
            return catalog.sources.mentions(memory.id, name) or name.lower() in chunk.text.lower()

        count = max(1, round(settings.abstain_share * len(questions)))
        kept.add("abstain", abstentions(questions, names, count, known, seed=chunk.text), own)
    return kept.reflections(), names


def text_reflections(text: str, context: str,
                     sentences_per_passage: int = 2) -> list[tuple[str, str]]:
    """The text itself, as pairs: a few sentences at a time, each prompted by its heading and
    first words. Trained beside the questions, the text is what a small model needs to answer
    questions worded differently from its reflections (docs/research.md: mixing text and QA)."""
    units = derive.sentences(text, headings=False)
    out = []
    for start in range(0, len(units), sentences_per_passage):
        window = " ".join(units[start:start + sentences_per_passage])
        if len(window.split()) < 4:
            continue
        lead = " ".join(window.split()[:5])
        out.append((f"{context}: {lead} …", window))
    return out


class ChunkPairs:
    """A chunk's reflections so far: one per question (the first written wins: a rule's pair
    never replaces a model's), each counted in its step of `report`, which authors also tell
    what they discarded."""

    def __init__(self, report: SynthesisReport):
        self.report = report
        self._by_key: dict[str, NewReflection] = {}

    def add(self, step: str, pairs: Sequence[tuple[str, str]], sources: tuple[int, ...]) -> int:
        """Keep the pairs whose question is new; how many were."""
        count = self.report.steps[step]
        added = 0
        for question, answer in pairs:
            key = question_key(question)
            if key in self._by_key:
                count.discarded += 1
                continue
            self._by_key[key] = NewReflection(question, answer, step, sources)
            count.produced += 1
            added += 1
        return added

    def reflections(self) -> list[NewReflection]:
        return list(self._by_key.values())


class Author(Protocol):
    """Who writes a chunk's question-answer pairs, one of `AUTHORS` (the text passages and
    the abstentions are the same whoever writes)."""

    @property
    def name(self) -> str: ...  # in reports, and as the generator of the saved reflections

    def write(self, chunk: ChunkText, context: str, kept: ChunkPairs,
              progress: Callable[[str], None], cancel: threading.Event | None) -> None:
        """Add the chunk's own pairs to `kept`, telling `progress` each step begun (a window
        shows it); stop early when `cancel` is set (the chunk is then written again)."""

    def cross(self, chunk: ChunkText, context: str, other: ChunkText, kept: ChunkPairs) -> None:
        """Pairs that need both `chunk` and `other`, a chunk that shares names with it."""


@dataclass(frozen=True)
class _Offered:
    """What this teach offers the authors: a chat model that passed its self-check, the
    learned writer (both None when not offered), and the settings."""

    generator: Generator | None
    writer: Writer | None
    settings: SynthesisSettings


RULE_STEPS = ("direct", "indirect", "consolidated", "entity")


def _rule_pairs(chunk: ChunkText, context: str, steps: Sequence[str], kept: ChunkPairs,
                progress: Callable[[str], None]) -> None:
    derived = derive.derive(chunk.text, context=context)
    for step in steps:
        progress(step)
        kept.add(step, [(p.question, p.answer) for p in derived.get(step, [])], (chunk.id,))


def _rule_cross(chunk: ChunkText, context: str, other: ChunkText, kept: ChunkPairs) -> None:
    pairs = derive.cross_pairs([(chunk.id, chunk.text), (other.id, other.text)],
                               contexts={chunk.id: context, other.id: context_of(other)})
    kept.add("cross", [(p.question, p.answer) for p, _ in pairs], (chunk.id, other.id))


class _Rules:
    """The rules of `derive`: every step from the text's own sentences, no model; what any
    model that fails the self-check gets, as its questions would be unchecked guesses."""

    name = "rules"

    @classmethod
    def if_offered(cls, offered: _Offered) -> _Rules:
        return cls()

    def write(self, chunk: ChunkText, context: str, kept: ChunkPairs,
              progress: Callable[[str], None], cancel: threading.Event | None) -> None:
        _rule_pairs(chunk, context, RULE_STEPS, kept, progress)

    def cross(self, chunk: ChunkText, context: str, other: ChunkText, kept: ChunkPairs) -> None:
        _rule_cross(chunk, context, other, kept)


class _LearnedWriter:
    """The bundled model's learned writer (`writer.Writer`): questions per sentence, with the
    rules' reverse and cross-document questions beside them, as the 135M model cannot write
    whole steps (it fails the self-check) but can word a question about one sentence."""

    def __init__(self, writer: Writer):
        self.writer = writer
        self.name = writer.name

    @classmethod
    def if_offered(cls, offered: _Offered) -> _LearnedWriter | None:
        return cls(offered.writer) if offered.writer is not None else None

    def write(self, chunk: ChunkText, context: str, kept: ChunkPairs,
              progress: Callable[[str], None], cancel: threading.Event | None) -> None:
        # The writer's questions are answered by their sentence, its he/she named: an answer
        # that restates the fact with its subject, as the text passages say it. Span answers
        # taught the memory fewer facts (15% against 33% contained on the real-text bench,
        # bench/RESULTS.md). Of the rules' steps only the reverse questions (entity) and the
        # cross-document ones join it: the indirect and consolidated pairs join two sentences
        # into claims the real-document judge finds neither states (tests/test_realdocs.py).
        progress("direct")
        for w in self.writer.write(passages_of(chunk.text, context), cancel) or []:
            kept.add(w.kind, [(w.question, w.sentence)], (chunk.id,))
        _rule_pairs(chunk, context, ("entity",), kept, progress)

    def cross(self, chunk: ChunkText, context: str, other: ChunkText, kept: ChunkPairs) -> None:
        _rule_cross(chunk, context, other, kept)


class _ModelSteps:
    """The steps as a chat model writes them, each pair verified (one rewrite, then
    discarded); a step it leaves empty is filled by rule."""

    def __init__(self, generator: Generator, settings: SynthesisSettings):
        self.generator, self.settings = generator, settings
        self.name = generator.name

    @classmethod
    def if_offered(cls, offered: _Offered) -> _ModelSteps | None:
        if offered.generator is None:
            return None
        return cls(offered.generator, offered.settings)

    def write(self, chunk: ChunkText, context: str, kept: ChunkPairs,
              progress: Callable[[str], None], cancel: threading.Event | None) -> None:
        derived = derive.derive(chunk.text, context=context)
        for step in RULE_STEPS:
            progress(step)
            by_rule = [(p.question, p.answer) for p in derived.get(step, [])]
            earlier = [(r.question, r.answer) for r in kept.reflections()]
            written = self._step(step, chunk, context, earlier, kept.report)
            if not kept.add(step, written, (chunk.id,)) and by_rule:
                kept.report.by_rule += 1
                kept.add(step, by_rule, (chunk.id,))

    def cross(self, chunk: ChunkText, context: str, other: ChunkText, kept: ChunkPairs) -> None:
        raw = self._ask(prompt("cross", text=chunk.text, context=context, other_text=other.text,
                               other_context=context_of(other), count=2))
        written = self._verify("cross", raw, f"{chunk.text}\n{other.text}", context, kept.report)
        if not kept.add("cross", written, (chunk.id, other.id)):
            _rule_cross(chunk, context, other, kept)

    def _ask(self, text: str) -> list[tuple[str, str]]:
        reply = self.generator.chat([{"role": "user", "content": text}], self.settings.max_tokens)
        return parse_pairs(reply)

    def _step(self, step: str, chunk: ChunkText, context: str,
              earlier: list[tuple[str, str]], report: SynthesisReport) -> list[tuple[str, str]]:
        count = self.settings.pairs_per_step
        if step == "consolidated":
            if len(earlier) < 2:
                return []
            listed = "\n".join(f"Q: {q}\nA: {a}" for q, a in earlier)
            raw = self._ask(prompt("consolidate", pairs=listed, count=count))
        else:
            raw = self._ask(prompt(step, text=chunk.text, context=context, count=count))
        return self._verify(step, raw, chunk.text, context, report)

    def _verify(self, step: str, pairs: list[tuple[str, str]], source: str, context: str,
                report: SynthesisReport) -> list[tuple[str, str]]:
        good = []
        for question, answer in pairs:
            if not _verified(question, answer, source):
                rewritten = self._ask(prompt("rewrite", text=source, context=context,
                                             question=question, answer=answer))
                if not rewritten or not _verified(*rewritten[0], source):
                    report.steps[step].discarded += 1
                    continue
                question, answer = rewritten[0]
            good.append((question, answer))
        return good


# Who writes a chunk's pairs, registered here and nowhere else, in order of preference: the
# first that is offered what it needs writes them (a chat model that passed its self-check,
# else the learned writer, else the rules).
AUTHORS: tuple[Callable[[_Offered], Author | None], ...] = (
    _ModelSteps.if_offered, _LearnedWriter.if_offered, _Rules.if_offered)
