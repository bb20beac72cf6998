"""Answering with memories: the executive consults the memories that are switched on.

The executive is the base model with no adapter; a memory is the same loaded base with that
memory's adapter attached (`runtime` swaps them without reloading). Modes:

- "none": no memory is on; the executive answers alone, exactly as the base model.
- "direct": each memory is asked the question as it was taught (a plain user turn); its answer
  is the answer (several memories that know: each answer, named).
- "protocol": the paper's three stages. Grounding: the executive splits the question into
  atomic sub-questions, each asked of every memory. Entity identification: names in the
  memories' answers become a ranked candidate list, followed up in turns (a budget), a
  candidate dropped after repeated "I don't know". Answer seeking: sub-questions still
  unanswered are asked again about the surviving candidates (a budget). Then the executive
  writes the answer from the notes.
- "rag": the baseline everybody ships. The chunks BM25 ranks first (SQLite FTS5 over the
  memories' text) go into the executive's context.
- "combined": memory and passages together. Each memory answers first, and BM25 finds the
  passages of the question. A memory's answer that a passage states, in a sentence about what
  was asked, is the answer; otherwise the passages win: the executive reads them one at a time,
  best first, until one answers (with the bundled model, its `reader` adapter says when a
  passage does not), and the trace says which memory's answer was left out and which passages
  did not say.
- "auto": the mode that answers best on the real-text bench (`AUTO`): combined; with an
  executive on a server that passes the self-check (`executive_can_lead`), the protocol.

The executive may be a chat server the user runs (`endpoint`, LM Studio, Ollama, mlx-lm's
server): it then splits questions, reads passages and writes answers, while the memories stay
adapters of this computer's base model. When the server fails (not running, a wrong model
name, a timeout, a reply not in the API's shape) the answer says so in its trace in one line
and is written by this computer's model instead.

Every answer carries its trace (which memory was asked what, and what it said) and the source
documents of the reflections that taught what was used. When nothing answers, the answer says
so in one sentence that names what was searched; an answer Stop cut short is "cancelled", with
what was said so far, never "I don't know". Each answer quotes what supports it: the passage
sentence, or the reflection a memory was taught it from. `ask_many` answers a list of questions
stage by stage in batches, for the benchmark and memory health.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from ..catalog import Catalog, ChunkText, Memory, Reflection
from ..errors import MemoError, UsageError, quoted
from ..models.endpoint import Endpoint, EndpointError
from ..models.runtime import Reply
from ..reflections import derive
from ..scoring import (
    DONT_KNOW,
    content_words,
    plain_sentences,
    says_unknown,
    starts_declining,
    stated_in,
)
from ..settings import from_section, keep_verdict, known_verdict, prompt
from .reader import reader_for, reading_prompt, reading_system

# What "auto" is: the mode that answers best on the real-text bench (`memo bench --corpus
# squad`, bench/RESULTS.md): with the bundled executive, combined 52%, direct 41%, rag 35%.
# The protocol is not measured there: that executive cannot split a question (its self-check).
AUTO = "combined"
# Who the executive is in an answer's `executive` when it is this computer's base model.
LOCAL = "this computer's model"
# How much of the reader's reply `_confirm` needs: the whole of "I don't know." (5 tokens with
# the bundled tokenizer), or enough of an answer to see it is not that.
CHECK_TOKENS = 8

# One thread leads the stages of submitted questions, in order (they wait on the engine).
_leader: ThreadPoolExecutor | None = None
_leader_lock = threading.Lock()


class RecallError(MemoError):
    pass


class QuestionTooLong(RecallError, UsageError):
    """A question the model cannot read with room left for its answer: refused before any
    generation (a pasted book would otherwise run for many minutes, then answer badly)."""


# A question longer than this many characters per token of the context is refused before it is
# tokenized (seconds for megabytes); tokens this long on average are no language's.
CHARS_PER_TOKEN = 16


@dataclass(frozen=True)
class RecallSettings:
    mode: str = "auto"
    memory_tokens: int = 64  # the longest answer a memory gives to one question
    answer_tokens: int = 160  # the executive's final answer
    # A memory's answer whose tokens were this unsure (exp of the mean log-probability) counts
    # as "I don't know". 0: every answer counts.
    min_confidence: float = 0.0
    sub_questions: int = 3  # grounding: at most this many beyond the question itself
    entity_turns: int = 7  # entity identification: follow-ups over candidates, in all
    dead_end: int = 3  # "I don't know"s that drop a candidate
    seek_turns: int = 8  # answer seeking: re-asks of unanswered sub-questions, in all
    rag_chunks: int = 3
    sources: int = 3  # reflections matched to each used answer, whose documents are cited

    @classmethod
    def from_defaults(cls) -> RecallSettings:
        return from_section(cls, "recall")


@dataclass(frozen=True)
class Step:
    # "direct", "grounding", "entity", "seek", "memory" (combined), "retrieval", "check"
    # (whether a passage states a memory's answer), "read" (a passage that does not answer),
    # "synthesis" or "executive" (a server that failed, and who answered instead)
    stage: str
    question: str
    memory: str | None  # None: the executive (or the index, for retrieval)
    answer: str
    confidence: float | None = None


@dataclass(frozen=True)
class Quote:
    """What supports an answer: a sentence of a passage it was read from, or the reflection a
    memory was taught it from, and the document that says it."""

    path: str
    text: str


@dataclass
class Answer:
    question: str
    answer: str = ""
    mode: str = "none"
    memories: list[str] = field(default_factory=list)
    trace: list[Step] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    finish_reason: str = "stop"
    seconds: float = 0.0
    # Every model call made for this answer, memories' and executive's together.
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "generated": 0})
    # The passages the executive read (rag, combined): where its quotes are found.
    passages: list[ChunkText] = field(default_factory=list, repr=False)
    read_from: int | None = None  # combined: the chunk id of the passage that answered
    # Who split, read or wrote for this answer: a server's name, LOCAL, or "" (the memories
    # alone answered: direct mode).
    executive: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer, "mode": self.mode, "memories": self.memories,
            "trace": [asdict(s) for s in self.trace], "sources": self.sources,
            "quotes": [asdict(q) for q in self.quotes],
            "finish_reason": self.finish_reason, "seconds": round(self.seconds, 3),
            "tokens": self.tokens, "executive": self.executive,
        }

    def count(self, reply: Any) -> None:
        self.tokens["prompt"] += reply.prompt_tokens
        self.tokens["generated"] += reply.generation_tokens


@dataclass(frozen=True)
class _Consulted:
    """A memory that can be asked: its name, id and adapter folder."""

    name: str
    id: int
    adapter: Path


@dataclass
class _Asking:
    """A batch of questions on its way through a mode."""

    answers: list[Answer]
    memories: Sequence[Memory]
    consulted: list[_Consulted]  # the memories' adapters, for the modes that consult them
    history: Sequence[dict[str, str]]
    on_text: Callable[[str], None] | None
    cancel: threading.Event | None


class _HeldBack:
    """A streaming callback that holds the text back while it may still be the reader's
    decline ("I don't know."), and passes it on, from the start, once it cannot be."""

    def __init__(self, on_text: Callable[[str], None]):
        self.on_text = on_text
        self.held = ""
        self.released = False

    def __call__(self, text: str) -> None:
        if self.released:
            self.on_text(text)
            return
        self.held += text
        if not starts_declining(self.held):
            self.released = True
            self.on_text(self.held)


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


class Recall:
    """Answers questions from a catalog's memories through one model runtime, and a chat
    server as the executive when `executive` is given."""

    def __init__(self, catalog: Catalog, runtime: Any, settings: RecallSettings | None = None,
                 executive: Endpoint | None = None):
        self.catalog = catalog
        self.runtime = runtime
        self.settings = settings or RecallSettings.from_defaults()
        self.executive = executive
        self._reader_dir: Path | None = None
        self._reader_looked = False
        if self.settings.mode not in MODES:
            raise RecallError(f"[recall] mode must be one of {', '.join(MODES)}, "
                              f"not {self.settings.mode!r}")

    # --- the entry points ---------------------------------------------------------------

    def ask(
        self,
        question: str,
        memories: Sequence[Memory],
        *,
        mode: str | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        history: Sequence[dict[str, str]] = (),
    ) -> Answer:
        """Answer one question, streaming the final answer's text into `on_text`. `history`:
        the conversation so far, which the executive sees when it answers itself (no memory)
        or reads passages (rag, combined); memories are asked the question alone, as they
        were taught."""
        return self._answer([question], memories, mode, on_text, cancel, history)[0]

    def submit(
        self,
        question: str,
        memories: Sequence[Memory],
        *,
        mode: str | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        history: Sequence[dict[str, str]] = (),
    ) -> Future[Answer]:
        """`ask` without blocking the caller (a UI thread): the stages are led from one
        recall thread, the models run on the engine thread, `on_text` is called there."""
        global _leader
        with _leader_lock:
            if _leader is None:
                _leader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memo-recall")
        return _leader.submit(self.ask, question, memories, mode=mode, on_text=on_text,
                              cancel=cancel, history=list(history))

    def ask_many(
        self,
        questions: Sequence[str],
        memories: Sequence[Memory],
        *,
        mode: str | None = None,
        cancel: threading.Event | None = None,
    ) -> list[Answer]:
        """Answer many questions, each stage batched across them (not streamed)."""
        return self._answer(list(questions), memories, mode, None, cancel)

    def resolve_mode(self, memories: Sequence[Memory], mode: str | None = None) -> str:
        mode = mode or self.settings.mode
        if mode not in MODES:
            raise RecallError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if not memories:
            return "none"
        if mode == "auto":
            if self.executive is not None and self.executive_can_lead()[0]:
                return "protocol"
            return AUTO
        return mode

    # --- modes --------------------------------------------------------------------------

    def _answer(self, questions: list[str], memories: Sequence[Memory], mode: str | None,
                on_text: Callable[[str], None] | None,
                cancel: threading.Event | None,
                history: Sequence[dict[str, str]] = ()) -> list[Answer]:
        began = time.perf_counter()
        mode = self.resolve_mode(memories, mode)
        answers = [Answer(q, mode=mode, memories=[m.name for m in memories]) for q in questions]
        if not questions:
            return answers
        if not (mode == "none" and self.executive is not None):  # a server has its own limit
            self.check_fits(questions)
        way = _MODES[mode]
        asking = _Asking(answers, memories,
                         self._consulted(memories) if way.consults else [], history, on_text,
                         cancel)
        finals = way.run(self, asking)
        if finals:
            self._executive(answers, finals, on_text, cancel,
                            adapter=self.reader() if way.reader_reads else None)
        for a in answers:
            if a.finish_reason == "cancelled":
                continue
            if mode == "combined" and says_unknown(a.answer):
                a.answer = unknown_answer(memories, passages=True)
            if a.passages and not a.quotes:
                read = [c for c in a.passages if c.id == a.read_from] or a.passages
                a.quotes = supporting(a.question, a.answer, read)
        seconds = (time.perf_counter() - began) / len(answers)
        for a in answers:
            a.seconds = seconds
        return answers

    def check_fits(self, questions: Sequence[str]) -> None:
        """Refuse (QuestionTooLong) a question this computer's model cannot read with room left
        for the longest answer it may give: its prompt's tokens are the rule."""
        context = self.runtime.loaded.result().context
        if context is None:
            return
        reserve = max(self.settings.answer_tokens, self.settings.memory_tokens)
        most = (f"this model reads at most {context:,} tokens, {reserve:,} of them kept for "
                "the answer")
        for q in questions:
            if len(q) > (context - reserve) * CHARS_PER_TOKEN:
                raise QuestionTooLong(f"the question is {len(q):,} characters, more than {most}: "
                                      "shorten it")
        for n in self.runtime.prompt_tokens([user(q) for q in questions]).result():
            if n + reserve > context:
                raise QuestionTooLong(f"the question is {n:,} tokens; {most}: shorten it")

    def reader(self) -> Path | None:
        """The adapter that reads passages (`reader`), if the base model has one. With a server
        as the executive, the server reads, and the reader only when the server fails."""
        if not self._reader_looked:
            self._reader_dir, self._reader_looked = reader_for(self.runtime), True
        return self._reader_dir

    def reading(self, history: Sequence[dict[str, str]],
                 turn: list[dict[str, str]]) -> list[dict[str, str]]:
        """The chat that reads passages: with the reader, its own (empty) system turn first."""
        if self.reader() is None:
            return [*history, *turn]
        return [reading_system(), *history, *turn]

    def _consulted(self, memories: Sequence[Memory]) -> list[_Consulted]:
        base = str(self.runtime.loaded.result().source.location)
        out = []
        for m in memories:
            if (why := unusable(self.catalog, m, base)) is not None:
                raise RecallError(why.says(m))
            adapter = self.catalog.runs.adapter(m.id)
            assert adapter is not None
            out.append(_Consulted(m.name, m.id, Path(adapter["path"])))
        return out

    # Each mode's way through a batch of questions: the chats the executive then answers, or
    # none when the mode wrote the answers itself. Registered in `_MODES`, below the class.

    def _by_none(self, q: _Asking) -> list[list[dict[str, str]]]:
        return [[*q.history, *user(a.question)] for a in q.answers]

    def _by_rag(self, q: _Asking) -> list[list[dict[str, str]]]:
        return [self.reading(q.history, self._rag(a, q.memories)) for a in q.answers]

    def _by_direct(self, q: _Asking) -> list[list[dict[str, str]]]:
        self._direct(q.answers, q.consulted, q.cancel, q.on_text)
        return []

    def _by_combined(self, q: _Asking) -> list[list[dict[str, str]]]:
        unconfirmed = self._combined(q.answers, q.consulted, q.memories, q.history, q.cancel)
        if unconfirmed:
            self._read_in_turn(unconfirmed, q.history, q.on_text, q.cancel)
        elif q.on_text is not None and len(q.answers) == 1 and q.answers[0].answer:
            q.on_text(q.answers[0].answer)  # the memory's answer, confirmed by a passage
        return []

    def _by_protocol(self, q: _Asking) -> list[list[dict[str, str]]]:
        return self._protocol(q.answers, q.consulted, q.cancel)

    def _direct(self, answers: list[Answer], consulted: list[_Consulted],
                cancel: threading.Event | None,
                on_text: Callable[[str], None] | None = None) -> None:
        if on_text is not None and len(answers) == 1:
            self._direct_streamed(answers[0], consulted, cancel, on_text)
        else:
            asks = [(i, m, a.question) for i, a in enumerate(answers) for m in consulted]
            for (i, m, q), (text, conf) in zip(asks, self._consult(asks, cancel, answers),
                                               strict=True):
                answers[i].trace.append(Step("direct", q, m.name, text, conf))
        for a in answers:
            if a.finish_reason == "cancelled":
                continue
            known = [s for s in a.trace if not says_unknown(s.answer)]
            if not known:
                a.answer = unknown_answer(consulted)
            elif len(known) == 1:
                a.answer = known[0].answer
            else:
                a.answer = "\n".join(f"{s.memory}: {s.answer}" for s in known)
            self._cite(a, consulted, known)

    def _direct_streamed(self, answer: Answer, consulted: list[_Consulted],
                         cancel: threading.Event | None, on_text: Callable[[str], None]) -> None:
        """One question asked of each memory in turn, each reply streamed as it is written
        (named, when several memories answer)."""
        said = ""
        for m in consulted:
            head = (("\n" if said else "") + f"{m.name}: ") if len(consulted) > 1 else ""
            if head:
                on_text(head)
            reply = self.runtime.generate(user(answer.question), adapter=m.adapter,
                                          max_tokens=self.settings.memory_tokens,
                                          on_text=on_text, cancel=cancel).result()
            answer.count(reply)
            said += head + reply.text
            if reply.finish_reason == "cancelled":
                answer.answer, answer.finish_reason = said.strip(), "cancelled"
                return
            text = reply.text.strip()
            if reply.confidence < self.settings.min_confidence:
                text = DONT_KNOW
            answer.trace.append(Step("direct", answer.question, m.name, text or DONT_KNOW,
                                     round(reply.confidence, 4)))

    def _rag(self, answer: Answer, memories: Sequence[Memory]) -> list[dict[str, str]]:
        chunks = self.catalog.sources.search_chunks([m.id for m in memories], answer.question,
                                            limit=self.settings.rag_chunks)
        for c in chunks:
            answer.trace.append(Step("retrieval", answer.question, None, f"{c.path}: {c.text}"))
        answer.passages = chunks
        answer.sources = list(dict.fromkeys(c.path for c in chunks))
        context = "\n\n".join(c.text for c in chunks) or "(nothing found)"
        return user(reading_prompt(context, answer.question))

    def _combined(self, answers: list[Answer], consulted: list[_Consulted],
                  memories: Sequence[Memory], history: Sequence[dict[str, str]],
                  cancel: threading.Event | None) -> list[Answer]:
        """The memory first, then the passages the question's words find. A memory's answer
        that one of them states, in a sentence that holds at least half of what the question
        asks about, is the answer (the two agree) unless the reader says that passage does
        not answer the question (`_confirm`). Otherwise the passages win: they are read
        (`_read_in_turn`), and the trace says what was left out. Returns the answers still
        to be read from the passages."""
        asks = [(i, m, a.question) for i, a in enumerate(answers) for m in consulted]
        for (i, m, q), (text, conf) in zip(asks, self._consult(asks, cancel, answers),
                                           strict=True):
            answers[i].trace.append(Step("memory", q, m.name, text, conf))
        ids = [m.id for m in memories]
        unconfirmed, agreed = [], []
        for a in answers:
            chunks = self.catalog.sources.search_chunks(ids, a.question,
                                                        limit=self.settings.rag_chunks)
            for c in chunks:
                a.trace.append(Step("retrieval", a.question, None, f"{c.path}: {c.text}"))
            a.passages = chunks
            a.sources = list(dict.fromkeys(c.path for c in chunks))
            notes = [st for st in a.trace if st.memory and not says_unknown(st.answer)]
            found = agreement(a.question, notes, chunks)
            if found is not None:
                agreed.append((a, *found))
                continue
            for st in notes:
                a.trace.append(Step("check", st.answer, st.memory, "no passage found says "
                                    "this: the passages answer"))
            unconfirmed.append(a)
        return unconfirmed + self._confirm(agreed, history, cancel)

    def _confirm(self, agreed: list[tuple[Answer, Step, ChunkText, Quote]],
                 history: Sequence[dict[str, str]],
                 cancel: threading.Event | None) -> list[Answer]:
        """The memory's answers a passage states, kept unless the reader, asked the question
        of that passage, declines it: a sentence can hold the answer and half the question's
        words and be about something else, and half of the unanswerable real-text questions
        combined answered came through such an agreement (`bench/RESULTS.md`). Returns the
        answers whose passage was declined, with that passage already read. A server
        executive checks in the reader's place. With neither there is no check: the bundled
        model prompted declined 0 of 48 unanswerable questions, so it cannot tell."""
        reader = self.reader()
        declines = [False] * len(agreed)
        if (reader is not None or self.executive is not None) and agreed:
            chats = [self.reading(history, user(reading_prompt(c.text, a.question)))
                     for a, _, c, _ in agreed]
            replies = self._chat_many(chats, CHECK_TOKENS, cancel, [a for a, *_ in agreed],
                                      adapter=reader)
            declines = [starts_declining(r) for r in replies]
        declined = []
        for (a, st, chunk, quote), declines_it in zip(agreed, declines, strict=True):
            if declines_it:
                a.trace.append(Step("check", st.answer, st.memory, f"{quote.path} states "
                                    "it, but does not answer the question: the passages "
                                    "answer"))
                a.trace.append(Step("read", a.question, None, f"{chunk.path}: does not say"))
                a.passages = [c for c in a.passages if c.id != chunk.id]
                declined.append(a)
            else:
                a.trace.append(Step("check", st.answer, st.memory, f"{quote.path} says: "
                                    f"{quote.text}"))
                a.answer, a.quotes = st.answer, [quote]
        return declined

    def _read_in_turn(self, answers: list[Answer], history: Sequence[dict[str, str]],
                      on_text: Callable[[str], None] | None,
                      cancel: threading.Event | None) -> None:
        """Each question's passages read one at a time, best first, until one answers it; the
        answer is "I don't know" when none does (or nothing was found). One passage at a time,
        not all together: the bundled 135M executive answered 50% of the real-text questions
        from the right paragraph and 35% from the top three chunks in one context, 38% with
        the memory's note beside four (`bench/RESULTS.md`); and a reader that says a passage
        does not answer (`reader`) can be asked the next one."""
        unfound = [a for a in answers if not a.passages]
        for a in unfound:
            a.answer = DONT_KNOW
        pending = [a for a in answers if a.passages]
        turn = 0
        while pending:
            if cancel is not None and cancel.is_set():  # Stop between passages: not unknown
                for a in pending:
                    a.answer, a.finish_reason = "", "cancelled"
                return
            for a in pending:
                a.answer = ""
            chats = [self.reading(history, user(reading_prompt(a.passages[turn].text,
                                                               a.question))) for a in pending]
            last = all(turn + 1 >= len(a.passages) for a in pending)
            # A streamed reply is held back while it may still be the reader's "I don't know":
            # the next passage may answer, and what was shown cannot be taken back.
            shown = _HeldBack(on_text) if on_text is not None and not last else on_text
            self._executive(pending, chats, shown, cancel, adapter=self.reader())
            declined = []
            for a in pending:
                passage = a.passages[turn]
                if a.finish_reason == "cancelled":
                    continue
                if starts_declining(a.answer):
                    a.trace.append(Step("read", a.question, None, f"{passage.path}: does not "
                                        "say"))
                    if turn + 1 < len(a.passages):
                        declined.append(a)
                else:
                    a.read_from = passage.id
                    a.sources = [passage.path]
            pending, turn = declined, turn + 1

    def _protocol(self, answers: list[Answer], consulted: list[_Consulted],
                  cancel: threading.Event | None) -> list[list[dict[str, str]]]:
        s = self.settings
        # 1. Grounding: atomic sub-questions, each asked of every memory.
        splits = self._chat_many([user(prompt("recall-grounding", question=a.question))
                                  for a in answers], 96, cancel, answers)
        subs: list[list[str]] = []
        for a, text in zip(answers, splits, strict=True):
            found = [q for q in parse_questions(text) if q.lower() != a.question.lower()]
            subs.append([a.question, *found[: s.sub_questions]])
            a.trace.append(Step("grounding", a.question, None, "\n".join(subs[-1][1:])))
        self._ask_round("grounding", answers,
                        [[(m, q) for q in qs for m in consulted] for qs in subs], cancel)
        # 2. Entity identification: names in the answers, best first, each followed up until
        # a memory says something of it (confirmed) or it met `dead_end` "I don't know"s
        # (dropped); `entity_turns` follow-ups per question in all.
        follow_ups = [line.strip() for line in prompt("recall-entity").splitlines()
                      if line.strip()]
        candidates = [self._candidates(a) for a in answers]
        misses: list[Counter[str]] = [Counter() for _ in answers]
        confirmed: list[set[str]] = [set() for _ in answers]
        turns = [0] * len(answers)
        while not (cancel is not None and cancel.is_set()):
            round_asks: list[list[tuple[_Consulted, str]]] = []
            picks: list[str | None] = []
            for i, ranked in enumerate(candidates):
                pending = [c for c in ranked
                           if c not in confirmed[i] and misses[i][c] < s.dead_end]
                if not pending or turns[i] >= s.entity_turns:
                    round_asks.append([])
                    picks.append(None)
                    continue
                pick = pending[0]
                turns[i] += 1
                wording = Template(follow_ups[misses[i][pick] % len(follow_ups)])
                round_asks.append([(m, wording.safe_substitute(entity=pick))
                                   for m in consulted])
                picks.append(pick)
            if not any(round_asks):
                break
            replies = self._ask_round("entity", answers, round_asks, cancel)
            for i, (picked, got) in enumerate(zip(picks, replies, strict=True)):
                if picked is None:
                    continue
                if any(not says_unknown(text) for text, _ in got):
                    confirmed[i].add(picked)
                else:
                    misses[i][picked] += 1
        # 3. Answer seeking: sub-questions no memory answered, asked again about each
        # surviving candidate, `seek_turns` asks in all.
        seek: list[list[tuple[_Consulted, str]]] = []
        for i, a in enumerate(answers):
            answered = {st.question for st in a.trace
                        if st.memory and not says_unknown(st.answer)}
            open_qs = [q for q in subs[i] if q not in answered]
            asks = [(m, prompt("recall-seek", entity=c, question=q).strip())
                    for q in open_qs for c in candidates[i] if c in confirmed[i]
                    for m in consulted]
            seek.append(asks[: s.seek_turns])
        if any(seek):
            self._ask_round("seek", answers, seek, cancel)
        # 4. The executive answers from the notes.
        finals = []
        for a in answers:
            known = [st for st in a.trace if st.memory and not says_unknown(st.answer)]
            notes = "\n".join(f"- Q: {st.question}\n  A: {st.answer}" for st in known)
            finals.append(user(prompt("recall-synthesis", notes=notes or "(none)",
                                      question=a.question)))
            self._cite(a, consulted, known)
        return finals

    # --- talking to the models ----------------------------------------------------------

    def _ask_round(self, stage: str, answers: list[Answer],
                   asks: list[list[tuple[_Consulted, str]]],
                   cancel: threading.Event | None) -> list[list[tuple[str, float]]]:
        flat = [(i, m, q) for i, per in enumerate(asks) for m, q in per]
        replies = self._consult(flat, cancel, answers)
        out: list[list[tuple[str, float]]] = [[] for _ in asks]
        for (i, m, q), (text, conf) in zip(flat, replies, strict=True):
            answers[i].trace.append(Step(stage, q, m.name, text, conf))
            out[i].append((text, conf))
        return out

    def _consult(self, asks: list[tuple[int, _Consulted, str]],
                 cancel: threading.Event | None,
                 answers: list[Answer]) -> list[tuple[str, float]]:
        """Each (question index, memory, question) asked of its memory: one batch per memory.
        An unsure answer (below min_confidence) is "I don't know"; one that Stop cut short
        marks its answer cancelled (what was never said is not "I don't know")."""
        out: list[tuple[str, float]] = [(DONT_KNOW, 0.0)] * len(asks)
        done = [False] * len(asks)
        for memory in dict.fromkeys(m for _, m, _ in asks):
            mine = [k for k, (_, m, _) in enumerate(asks) if m == memory]
            replies = self.runtime.generate_batch(
                [user(asks[k][2]) for k in mine], adapter=memory.adapter,
                max_tokens=self.settings.memory_tokens, cancel=cancel,
            ).result()
            for k, reply in zip(mine, replies, strict=False):
                answers[asks[k][0]].count(reply)
                text = reply.text.strip()
                if reply.confidence < self.settings.min_confidence:
                    text = DONT_KNOW
                out[k] = (text or DONT_KNOW, round(reply.confidence, 4))
                done[k] = reply.finish_reason != "cancelled"
        for k, finished in enumerate(done):
            if not finished:
                answers[asks[k][0]].finish_reason = "cancelled"
        return out

    def _chat_many(self, chats: list[list[dict[str, str]]], max_tokens: int,
                   cancel: threading.Event | None, answers: list[Answer] | None,
                   adapter: Path | None = None) -> list[str]:
        replies, by = None, LOCAL
        server = self._server_for(adapter)
        if server is not None:
            try:
                replies = server.chat_many([self._for_server(c) for c in chats], max_tokens,
                                           cancel)
                by = server.name
            except EndpointError as e:
                self._fell_back(answers or [], e)
        if replies is None:
            replies = self.runtime.generate_batch(chats, max_tokens=max_tokens, cancel=cancel,
                                                  adapter=adapter).result()
        for a in answers or []:
            a.executive = by
        for a, reply in zip(answers or [], replies, strict=False):
            a.count(reply)
        texts = [r.text.strip() for r in replies]
        return texts + [""] * (len(chats) - len(texts))

    def _executive(self, answers: list[Answer], finals: list[list[dict[str, str]]],
                   on_text: Callable[[str], None] | None,
                   cancel: threading.Event | None, adapter: Path | None = None) -> None:
        limit = self.settings.answer_tokens
        server = self._server_for(adapter)
        if server is not None:
            replies = self._on_server(server, answers, finals, on_text, cancel)
            if replies is not None:
                self._answered(answers, replies, server.name)
                return
        if len(answers) == 1:
            reply = self.runtime.generate(finals[0], on_text=on_text, cancel=cancel,
                                          max_tokens=limit, adapter=adapter).result()
            replies = [reply]
        else:
            replies = self.runtime.generate_batch(finals, max_tokens=limit, cancel=cancel,
                                                  adapter=adapter).result()
        self._answered(answers, replies, LOCAL)

    def _on_server(self, server: Endpoint, answers: list[Answer],
                   finals: list[list[dict[str, str]]],
                   on_text: Callable[[str], None] | None,
                   cancel: threading.Event | None) -> list[Any] | None:
        """The executive's replies from the server, or None when it failed before anything was
        shown (this computer's model then answers). A reply it broke off is kept as far as it
        was shown: text on the screen is not taken back, nor written twice."""
        limit = self.settings.answer_tokens
        chats = [self._for_server(f) for f in finals]
        shown: list[str] = []

        def show(text: str) -> None:
            shown.append(text)
            if on_text is not None:
                on_text(text)

        try:
            if len(answers) == 1:
                return [server.chat(chats[0], limit, on_text=show, cancel=cancel)]
            return server.chat_many(chats, limit, cancel)
        except EndpointError as e:
            if isinstance(on_text, _HeldBack) and not on_text.released:
                on_text.held = ""  # held back, never shown: the fallback starts afresh
                shown.clear()
            if not shown:
                self._fell_back(answers, e)
                return None
            answers[0].trace.append(Step("executive", answers[0].question, None,
                                         f"{e}; the answer was cut off there"))
            return [Reply("".join(shown), "length", 0, len(shown), 0.0, 0.0, 0.0)]

    def _server_for(self, adapter: Path | None) -> Endpoint | None:
        """The server a call with `adapter` goes to, if any: the executive's own calls (no
        adapter) and the reader's, whose part a server executive takes; memories stay local."""
        return self.executive if adapter in (None, self.reader()) else None

    def _for_server(self, chat: list[dict[str, str]]) -> list[dict[str, str]]:
        """A chat as the server is sent it: without the reader's own (empty) system turn,
        which some templates refuse, and with the user's system prompt."""
        if chat and chat[0] == reading_system():
            chat = chat[1:]
        return list(self.runtime.with_system(chat, None))

    def _fell_back(self, answers: list[Answer], error: EndpointError) -> None:
        """The server's failure in each answer's trace, once (an answer makes several calls;
        after the first failure the others fail at once, `endpoint.DOWN_SECONDS`)."""
        for a in answers:
            if not any(s.stage == "executive" for s in a.trace):
                a.trace.append(Step("executive", a.question, None,
                                    f"{error}; answered with {LOCAL}"))

    def _answered(self, answers: list[Answer], replies: Sequence[Any], by: str) -> None:
        for a in answers:
            a.executive = by
        for a, reply in zip(answers, replies, strict=False):
            a.answer = reply.text.strip()
            a.finish_reason = reply.finish_reason
            a.count(reply)
            if a.mode == "protocol":
                a.trace.append(Step("synthesis", a.question, None, a.answer))
        for a in answers[len(replies):]:
            a.finish_reason = "cancelled"

    def _candidates(self, answer: Answer) -> list[str]:
        """Names the memories' answers gave, most often and most surely said first; names
        the question itself holds are what is asked about, not candidates."""
        asked = {n.lower() for n in derive.entities(answer.question)}
        score: dict[str, float] = {}
        for st in answer.trace:
            if st.memory is None or says_unknown(st.answer):
                continue
            for name in derive.entities(st.answer):
                if name.lower() not in asked and not name.isdigit():
                    score[name] = score.get(name, 0.0) + 1.0 + (st.confidence or 0.0)
        ranked = sorted(score, key=lambda n: -score[n])  # stable: first said first on ties
        return ranked[: self.settings.entity_turns]

    def _cite(self, answer: Answer, consulted: list[_Consulted], used: list[Step]) -> None:
        """The documents of the reflections closest to what each memory said, and the closest
        one's answer as the quote of its document."""
        by_name = {m.name: m for m in consulted}
        found: list[Reflection] = []
        for st in used:
            memory = by_name.get(st.memory or "")
            if memory is not None:
                found.extend(self.catalog.reflections.search(
                    memory.id, f"{st.question} {st.answer}", limit=self.settings.sources))
        paths = self.catalog.reflections.sources([r.id for r in found])
        answer.sources = list(dict.fromkeys(p for r in found for p in paths.get(r.id, [])))
        quoted: dict[str, str] = {}
        for r in found:
            for p in paths.get(r.id, []):
                quoted.setdefault(p, r.answer)
        answer.quotes = [Quote(p, text) for p, text in quoted.items()]

    # --- can the executive lead the protocol? -------------------------------------------

    def executive_can_lead(self) -> tuple[bool, str]:
        """A self-check of the executive on its two jobs, kept per model in MEMO_HOME: split a
        two-part question into sub-questions, and answer from notes that hold the answer."""
        if self.executive is not None:
            try:  # the verdict is kept under the model's name, as the server lists it
                name = f"endpoint:{self.executive.model()} at {self.executive.url}"
            except EndpointError as e:  # no verdict on a server that failed: it may answer
                return False, str(e)    # next time
        else:
            name = str(self.runtime.loaded.result().source.location)
        known = known_verdict("executive-checks", name)
        if known is not None:
            return known
        chats = [
            user(prompt("recall-grounding",
                        question="Where was the founder of the Orm Glass Guild born, and in "
                                 "what year did he die?")),
            user(prompt("recall-synthesis", notes="- Q: Who founded the Orm Glass Guild?\n"
                                           "  A: Tam Verrick founded the Orm Glass Guild.\n"
                                           "- Q: Where was Tam Verrick born?\n"
                                           "  A: Tam Verrick was born in Kessel Reach.",
                        question="Where was the founder of the Orm Glass Guild born?")),
        ]
        if self.executive is not None:
            try:
                split, synth = (r.text for r in self.executive.chat_many(
                    [self._for_server(c) for c in chats], 96))
            except EndpointError as e:
                return False, str(e)
        else:
            split, synth = self._chat_many(chats, 96, None, None)
        parts = parse_questions(split)
        ok_split = len(parts) >= 2 and any("born" in p for p in parts) and any(
            "die" in p for p in parts)
        ok_synth = "kessel reach" in synth.lower()
        verdict = (ok_split and ok_synth,
                   f"splitting a question: {'passed' if ok_split else 'failed'}; "
                   f"answering from notes: {'passed' if ok_synth else 'failed'}")
        keep_verdict("executive-checks", name, verdict)
        return verdict


_NUMBERED = re.compile(r"^\s*(?:[-*•]|\d+[.)]|Q\d*:|Sub-question\s*\d*:)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class _Mode:
    """A way of answering: how it runs, whether it asks the memories themselves, and whether
    the executive then reads with the reader adapter."""

    run: Callable[[Recall, _Asking], list[list[dict[str, str]]]]
    consults: bool = False
    reader_reads: bool = False


# Every mode, in one place ("none": no memory on; "auto" is chosen by `resolve_mode`).
_MODES = {
    "none": _Mode(Recall._by_none),
    "direct": _Mode(Recall._by_direct, consults=True),
    "protocol": _Mode(Recall._by_protocol, consults=True),
    "rag": _Mode(Recall._by_rag, reader_reads=True),
    "combined": _Mode(Recall._by_combined, consults=True),
}
MODES = ("auto", *(m for m in _MODES if m != "none"))  # what a user may ask for


def agreement(question: str, notes: Sequence[Step],
               passages: Sequence[ChunkText]) -> tuple[Step, ChunkText, Quote] | None:
    """The first memory's answer a passage states in a sentence that holds, with the sentence
    before it, at least half of the question's words; with that passage and sentence: the
    memory recalled what the passage says about what was asked (a note the passages state
    elsewhere answers another question)."""
    asked = content_words(question)
    for st in notes:
        for c in passages:
            before = ""
            for sentence in plain_sentences(c.text, 1):
                # With the sentence before it: "It was finished in 1987." is about the subject
                # the last sentence named.
                about = content_words(f"{before} {sentence}")
                if stated_in(st.answer, sentence) and 2 * len(asked & about) >= len(asked):
                    return st, c, Quote(c.path, sentence)
                before = sentence
    return None


def supporting(question: str, answer: str, passages: Sequence[ChunkText]) -> list[Quote]:
    """The passage sentence that best supports an answer read from them: the one holding most
    of what the answer adds to the question (then most of the question); none when no
    sentence holds any of it (an answer not from the passages, or "I don't know")."""
    if says_unknown(answer):
        return []
    asked = content_words(question)
    added = content_words(answer) - asked
    best, score = None, (0, 0)
    for c in passages:
        for sentence in plain_sentences(c.text, 1):
            words = content_words(sentence)
            mine = (len(added & words), len(asked & words))
            if mine[0] and mine > score:
                best, score = Quote(c.path, sentence), mine
    return [best] if best else []


def unknown_answer(memories: Sequence[Any], passages: bool = False) -> str:
    """"I don't know" in one plain sentence that names what was searched."""
    names = ", ".join(f"'{m.name}'" for m in memories)
    several = len(memories) > 1
    searched = (f"the memor{'ies' if several else 'y'} {names}"
                + (f" and the documents {'they were' if several else 'it was'} taught"
                   if passages else ""))
    return f"I don't know: nothing in {searched} answers this."


def teach_command(memory: Memory) -> str:
    """The command that teaches `memory`, as a message suggests it (the name shell-quoted)."""
    return f"memo teach --memory {shlex.quote(memory.name)}"


@dataclass(frozen=True)
class Unusable:
    """Why a memory cannot be consulted on the loaded base model, as data: `reason` is
    "untaught" (no adapter yet), "other-base" (`detail`: the base it was taught on) or
    "damaged" (`detail`: what is wrong with its adapter). Each face words it its own way."""

    reason: str
    detail: str = ""

    def says(self, memory: Memory) -> str:
        """The command line's sentence, with the command that mends it."""
        name = quoted(memory.name)
        if self.reason == "untaught":
            return f"memory {name} has not been taught yet: run `{teach_command(memory)}` first"
        if self.reason == "other-base":
            return (f"memory {name} was taught on another base model ({self.detail}); "
                    "teach it again on this one")
        return (f"memory {name} is damaged ({self.detail}): "
                f"run `{teach_command(memory)}` to teach it again from scratch")


def unusable(catalog: Catalog, memory: Memory, base: str) -> Unusable | None:
    """Why the memory cannot be consulted on the base model `base` (its location), or None
    when it can: an adapter only means something on the base it was trained on."""
    current = catalog.runs.adapter(memory.id)
    if current is None:
        return Unusable("untaught")
    if current["base_model"] and current["base_model"] != base:
        return Unusable("other-base", current["base_model"])
    why = damage(catalog, memory)
    return None if why is None else Unusable("damaged", why)


def damage(catalog: Catalog, memory: Memory) -> str | None:
    """Why the memory's adapter is not the one saved (damaged: a teach retrains it from
    scratch), or None. While a teach holds the memory, its new adapter is in place before the
    catalog records its digest: not damage."""
    from ..learning.training import adapter_damage

    current = catalog.runs.adapter(memory.id)
    if current is None:
        return None
    why = adapter_damage(Path(current["path"]), current.get("digest"))
    if why is None or catalog.is_locked(f"teach-{memory.id}"):
        return None
    return why


def parse_questions(text: str) -> list[str]:
    """The questions of a model's reply, one per line, numbering and bullets removed."""
    out = []
    for line in text.splitlines():
        line = _NUMBERED.sub("", line).strip()
        if line.endswith("?") and len(line.split()) >= 3 and line not in out:
            out.append(line)
    return out
