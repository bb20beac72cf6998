"""The reflection writer: the bundled base model with an adapter that writes questions.

Prompted, the bundled 135M model cannot write reflections (it repeats one question, writes no
answers). Trained once on public human-written questions (SQuAD v1.1's train split: crowd
workers' questions about Wikipedia paragraphs, CC BY-SA 4.0), a small LoRA adapter makes it
write them about any prose, in two tasks that share one adapter:

- answers: given a sentence (with the one before it, and its document's title), the short spans
  a reader could be asked about ("Rollo | King Charles III | Denmark, Iceland and Norway");
- question: given the same and one of those spans, a question the span answers, worded as a
  person would ask it.

The spans are taken only where they occur in the sentence, so every answer the memory learns
is stated by its source; a question is kept only when it names things its source names (see
`synthesis`). The prompts below are the one format both training and teaching use.

`python -m memo_mlx.reflections.writer train SQUAD_TRAIN.json` trains it (resources/writer/
holds the result and the record of its data and training).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..learning.training import Example
from ..scoring import normalise, question_key
from ..settings import resources_dir

ANSWER_SEPARATOR = " | "
# An empty system turn: the chat template's default one would add 16 tokens to every prompt.
SYSTEM = ""
# The second wording of each question is sampled at this temperature.
WORDING_TEMPERATURE = 0.7
# The writer is an adapter of this model: another base model has no writer (rules then).
BASE_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def writer_dir() -> Path:
    return resources_dir() / "writer"


@dataclass(frozen=True)
class Passage:
    """One sentence to write about, with what a reader needs around it."""

    title: str  # the document or section it belongs to
    before: str  # the sentence before it ("" at the start): who "she" is
    sentence: str


def _lead(p: Passage) -> str:
    before = f"Before: {p.before}\n" if p.before else ""
    return f"Title: {p.title}\n{before}Sentence: {p.sentence}\n"


def passages_of(text: str, title: str) -> list[Passage]:
    """A chunk's sentences to write about, each with the one before it, he and she replaced by
    the person they stand for where that is certain (`derive.resolve_pronouns`): a writer shown
    "She developed X-ray units" writes "What did she develop?", which names no one."""
    from . import derive

    units = derive.sentences(text, headings=False)
    resolved = derive.resolve_pronouns(units, title, persons_only=True)
    # A question in the text ("Do we have a hotel yet?") or a greeting ("Hi Aisha,") states
    # no fact to ask about.
    return [Passage(title, resolved[i - 1] if i else "", s) for i, s in enumerate(resolved)
            if len(s.split()) >= 3 and s.rstrip()[-1:] not in ("?", ",")]


def answers_prompt(p: Passage) -> str:
    return _lead(p) + "Task: list the short answers this sentence gives."


def question_prompt(p: Passage, answer: str) -> str:
    return _lead(p) + f"Answer: {answer}\nTask: write a question about {p.title} with this answer."


def parse_answers(text: str) -> list[str]:
    """The spans of an answers reply, each once, in order."""
    seen: dict[str, None] = {}
    for part in text.split("|"):
        part = part.strip().strip(".").strip()
        if part and part.lower() not in (s.lower() for s in seen):
            seen[part] = None
    return list(seen)


def parse_question(text: str) -> str:
    """A question reply's question: its first line, which must end in "?"."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if line.endswith("?") else ""


# --- teaching ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    """A pair the writer wrote and the checks kept: `answer` is a span of `sentence`."""

    question: str
    answer: str
    sentence: str
    kind: str  # "entity" when the answer is a name (a reverse question), else "direct"


class Writer:
    """The writer at teach time: the runtime's base model with the writer adapter attached,
    every prompt of a chunk in one batch per task."""

    name = "writer"

    # Two wordings: a third bought 7 of 217 questions on the real-text bench (within what one
    # run varies) for about 14 more minutes of its teach, past the 45 the issue allows for
    # 23 KB on a 2-core CPU (bench/RESULTS.md).
    def __init__(self, runtime: Any, adapter: Path, *, max_words: int = 12, wordings: int = 2):
        self.runtime, self.adapter, self.max_words = runtime, adapter, max_words
        self.wordings = wordings  # questions written per span: one greedy, the rest sampled

    @classmethod
    def for_runtime(cls, runtime: Any) -> Writer | None:
        """The writer for the runtime's base model; None when it has none (another model)."""
        adapter = writer_dir()
        source = runtime.loaded.result().source
        if Path(source.location).name != BASE_MODEL:
            return None
        if not (adapter / "adapters.safetensors").is_file():
            return None
        return cls(runtime, adapter)

    def _run(self, prompts: list[str], max_tokens: int, cancel: Any,
             temperature: float = 0.0, seed: int = 0) -> list[str] | None:
        if not prompts:
            return []
        chats = [[{"role": "system", "content": SYSTEM}, {"role": "user", "content": p}]
                 for p in prompts]
        replies = self.runtime.generate_batch(chats, adapter=self.adapter, max_tokens=max_tokens,
                                              cancel=cancel, temperature=temperature,
                                              seed=seed).result()
        return None if len(replies) < len(prompts) else [r.text for r in replies]

    def write(self, passages: list[Passage], cancel: Any = None) -> list[Written] | None:
        """Pairs about each passage's sentence, each checked against that sentence and its
        title (`question_fits`, `_round_trip`), up to `wordings` of each fact (a greedy
        question and sampled ones: a small memory answers rewordings only when taught several,
        see docs/research.md); None when cancelled."""
        prompts = [answers_prompt(p) for p in passages]
        found = self._run(prompts, 48, cancel)
        more = self._run(prompts, 48, cancel, temperature=WORDING_TEMPERATURE)
        if found is None or more is None:
            return None
        asks = []
        for p, *replies in zip(passages, found, more, strict=True):
            spans: dict[str, str] = {}
            for span in [s for r in replies for s in parse_answers(r)] + salient_spans(
                    p.sentence):
                kept = self._span_in(span, p.sentence)
                if kept:
                    spans.setdefault(kept.lower(), kept)
            asks += [(p, span) for span in spans.values()]
        prompts = [question_prompt(p, span) for p, span in asks]
        wordings = [self._run(prompts, 40, cancel)] + [
            self._run(prompts, 40, cancel, temperature=WORDING_TEMPERATURE, seed=seed)
            for seed in range(1, self.wordings)]
        if any(w is None for w in wordings):
            return None
        candidates, seen = [], set()
        for (p, span), *replies in zip(asks, *wordings, strict=True):
            for reply in replies:
                question = parse_question(reply)
                answer = _trimmed(span, question)
                key = question_key(question)
                source = f"{p.title}\n{p.sentence}"
                if not question or not answer or key in seen \
                        or not question_fits(question, answer, source, p.before):
                    continue
                seen.add(key)
                candidates.append(Written(question, answer, p.sentence,
                                          "entity" if _is_name(answer) else "direct"))
        return self._round_trip(candidates, cancel)

    def _round_trip(self, candidates: list[Written], cancel: Any) -> list[Written] | None:
        """The pairs whose question, put to the base model with their sentence, gets their
        answer back. A question that fits its sentence's words but asks another relation
        ("Who was her husband?" answered with the other man the sentence names) does not:
        round-trip consistency, the usual filter for written questions, and it needs no
        language of its own."""
        from ..settings import prompt

        chats = [[{"role": "user", "content": prompt("check-answer", sentence=w.sentence,
                                                     question=w.question)}]
                 for w in candidates]
        if not chats:
            return []
        replies = self.runtime.generate_batch(chats, max_tokens=24, cancel=cancel).result()
        if len(replies) < len(chats):
            return None
        return [w for w, reply in zip(candidates, replies, strict=True)
                if answers_with(reply.text, w.question, w.answer)]


    def _span_in(self, span: str, sentence: str) -> str | None:
        """The span as the sentence writes it, if the sentence states it: short, more than a
        pronoun, less than the whole sentence."""
        at = sentence.lower().find(span.lower())
        if at < 0:
            return None
        span = sentence[at:at + len(span)]
        words = span.split()
        ok = (0 < len(words) <= self.max_words and len(span) < 0.8 * len(sentence)
              and any(c.isalnum() for c in span) and span.lower() not in _PRONOUNS
              and not re.search(r"['’]s?$", span))  # "Curie's": a piece of a phrase
        return span if ok else None



_MONTH_NAMES = ("January|February|March|April|May|June|July|August|September|October|"
                "November|December")
_SALIENT = re.compile(
    rf"\b\d[\d,.:]*(?:\s*(?:%|(?:{_MONTH_NAMES})(?:\s+\d{{4}})?|[a-z]{{1,12}}\b))?"  # 40 minutes
    r"|\b(?:[A-Z][\w'’-]+)(?:\s+(?:of|de|von|van|the|and)?\s*[A-Z][\w'’-]+)*"  # names
)
_NOT_UNITS = frozenset("to and or in of the a an at on for by from with than as is was are "
                       "were then until".split())


def salient_spans(sentence: str) -> list[str]:
    """Spans a reader is likely to be asked about that the writer may have passed over:
    numbers with their unit and runs of capitalised words, the sentence's first word
    aside. Questions are still written (and checked) by the writer for each."""
    out = []
    for m in _SALIENT.finditer(sentence):
        span = m.group().strip(" ,.")
        if span.split()[-1] in _NOT_UNITS:
            span = " ".join(span.split()[:-1])
        if m.start() == 0 and " " not in span and not span[0].isdigit():
            continue  # a capitalised first word is only the sentence's start
        if span:
            out.append(span)
    return out


def answers_with(reply: str, question: str, answer: str, within: int = 3) -> bool:
    """Whether a reply gives `answer` as what it adds to the question: among its first
    `within` words once the question's own words are set aside. A reader that restates the
    whole sentence names every span of it, but only the asked one comes first."""
    asked = set(normalise(question).split()) | _QUESTION_WORDS
    said = [w for w in normalise(reply).split() if w not in asked]
    wanted = [w for w in normalise(answer).split() if w not in asked]
    if not wanted:
        return False
    n = len(wanted)
    return any(said[i:i + n] == wanted for i in range(min(within, max(len(said) - n + 1, 0))))


_PRONOUNS = frozenset("he she it they him her them his hers its their theirs we us you i this "
                      "that these those which who whom".split())
# A question with one of these leaves its subject unnamed ("What did she develop?", "What
# day can you send me...?" of an e-mail).
_DANGLING = frozenset("he she him his her hers they them their theirs it its you your yours "
                      "me my mine we our ours us".split())
# ...bar a possessive that refers back to a subject the question names or asks for ("Who gave
# their name to Normandy?", "When did the Normans give their name...?"). "her" may be an object
# ("Who married her?"): it is never bound.
_BOUND_POSSESSIVES = frozenset("his its their".split())
_QUESTION_WORDS = frozenset("what who whom whose which when where why how did does do is are "
                            "was were the a an of in on at to for by with from and or as that "
                            "this be been being have has had not can could would should will "
                            "many much into onto upon about over under after before during "
                            "between among through within without against toward towards "
                            "across near since until while than there some any each every "
                            "other another such only more most very".split())
# Words a question may use that its source need not: what is asked for, not what is claimed.
# Not "first" or "last": "Who was the first woman to study at the University of Paris?" of a
# sentence that says she studied there claims what it does not.
_ASKING = frozenset("name named names called call term type kind kinds sort year years date "
                    "day month century number percent percentage amount much long old often "
                    "people person place city country thing one ones type used use also "
                    "according known".split())
# Verbs question writers put for the source's own ("received" for "won", "located" for "is"):
# they restate a relation, they add none.
_RESTATING = frozenset("receive received receives awarded award win won get got gain gained "
                       "earn earned obtain obtained locate located situated happen happened "
                       "occur occurred take took place begin began start started consider "
                       "considered refer referred describe described".split())


# Past forms whose first four letters are not their verb's: a question asks "When did they
# give...?" of a sentence that says "gave".
_IRREGULAR = {past: base for base, pasts in (pair.split(":") for pair in (
    "give:gave be:was,were,been bear:bore,born,borne become:became begin:began,begun "
    "break:broke,broken bring:brought build:built buy:bought catch:caught choose:chose,chosen "
    "come:came dig:dug do:did,done draw:drew drink:drank,drunk drive:drove eat:ate fall:fell "
    "feed:fed feel:felt fight:fought find:found flee:fled fly:flew,flown freeze:froze,frozen "
    "go:went,gone grow:grew hang:hung hide:hid hold:held keep:kept know:knew lay:laid "
    "lead:led leave:left lend:lent light:lit lose:lost make:made meet:met pay:paid ride:rode "
    "ring:rang rise:rose,risen run:ran say:said see:saw,seen seek:sought sell:sold send:sent "
    "shake:shook shoot:shot sing:sang,sung sink:sank sit:sat sleep:slept speak:spoke,spoken "
    "spend:spent spin:spun spring:sprang stand:stood steal:stole,stolen stick:stuck "
    "strike:struck swear:swore,sworn swim:swam swing:swung take:took teach:taught tear:tore "
    "tell:told think:thought throw:threw,thrown wake:woke wear:wore,worn weep:wept win:won "
    "write:wrote").split()) for past in pasts.split(",")}


def _stem(word: str) -> str:
    """The four letters a word and its forms share ("marry", "married"; "gave", "give")."""
    return _IRREGULAR.get(word, word)[:4]


def _is_name(span: str) -> bool:
    words = [w for w in span.split() if w[:1].isalpha()]
    return bool(words) and all(w[0].isupper() for w in words if len(w) > 3)


def _trimmed(span: str, question: str) -> str:
    """The span without the words at its ends that the question already says ("1903 Nobel
    Prize in Physics" asked "When did she win the Nobel Prize in Physics?" is "1903")."""
    asked = set(normalise(question).split())
    words = span.split()
    while words and (set(normalise(words[0]).split()) <= asked):
        words.pop(0)
    while words and (set(normalise(words[-1]).split()) <= asked):
        words.pop()
    return " ".join(words).strip(" ,;:")


_MONTHS = frozenset("january february march april may june july august september october "
                    "november december".split())
_NUMBER_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve "
                          "hundred thousand million billion dozen several few".split())


def _answer_fits(words: list[str], answer: str) -> bool:
    """Whether the answer is of the kind the question asks for: a time for "when", a count
    for "how many", a name or noun for "who", not a bare number or time for "where"."""
    low = answer.lower()
    numeric = any(c.isdigit() for c in answer) or bool(set(low.split()) & _NUMBER_WORDS)
    timely = numeric or bool(set(re.findall(r"[a-z]+", low)) & (_MONTHS | {"century",
                                                                       "centuries", "age",
                                                                       "era", "war", "period",
                                                                       "dynasty", "reign"}))
    # "During the Ivy Regatta", "after the war": a time told by an event
    timely = timely or low.partition(" ")[0] in ("during", "before", "after", "since", "until")
    first = words[0] if words else ""
    if "when" in words[:3] or (first in ("what", "which") and words[1:2] == ["year"]):
        return timely
    if words[:2] in (["how", "many"], ["how", "much"]) or words[:2] == ["how", "long"]:
        return numeric
    if "where" in words[:3]:
        return not re.fullmatch(r"[\d\s.,:%-]+", answer.strip())
    if first in ("who", "whom", "whose"):
        return not re.fullmatch(r"[\d\s.,:%-]+", answer.strip())
    return True


def _dangling(question: str) -> bool:
    """Whether a pronoun of the question has nothing in it to stand for."""
    raw = re.findall(r"[^\W\d_][\w'’-]*", question)
    for i, word in enumerate(raw):
        low = word.lower()
        if low not in _DANGLING:
            continue
        if low not in _BOUND_POSSESSIVES:
            return True
        named = any(w[:1].isupper() for w in raw[1:i])  # the first word is capitalised anyway
        if not (named or raw[0].lower() == "who"):
            return True
    return False


def question_fits(question: str, answer: str, source: str, around: str = "") -> bool:
    """Whether a written question may be kept: it names its subject (no dangling pronoun),
    does not give its answer away, asks for the kind of thing its answer is, names no person,
    place or number its source (the sentence and its title) does not, and is anchored in it:
    at least one of its words is the source's and not the answer's ("What is the name of the
    city?" asks about nothing).

    One content word may be the question's own ("What city is home to the Ivy Regatta?" of
    "Every April, Wendmoor holds the Ivy Regatta"), or come from the sentence `around` it that
    the writer was shown ("town"): people reword as they ask, and demanding every word of the
    source kept 30% of SQuAD's crowd-written questions against their sentence, one free word
    54% (`bench/question_checks.py`). The memory's answer is the whole sentence, so a reworded
    question recalls a true statement; a name or number it adds would be a false fact in the
    making, and is never allowed."""
    q_norm, a_norm = normalise(question), normalise(answer)
    words = q_norm.split()
    if not words or _dangling(question) or (a_norm and f" {a_norm} " in f" {q_norm} "):
        return False
    if not _answer_fits(words, answer):
        return False
    src_words = set(normalise(source).split())
    raw = re.findall(r"\d+(?:[.,:]\d+)*|[^\W\d_][\w'’-]*", question)
    for i, word in enumerate(raw):
        norm = normalise(word)
        named = word[0].isdigit() or (i > 0 and word[0].isupper())
        if norm and named and not all(part in src_words for part in norm.split()):
            return False
    own = _stems(src_words)
    near = own | _stems(set(normalise(around).split()))
    content = [w for w in words if w not in _QUESTION_WORDS and w not in _ASKING
               and w not in _RESTATING]
    if sum(_stem(w) not in near for w in content) > 1:
        return False
    answered = set(a_norm.split())
    return any(_stem(w) in own and w not in answered for w in content)


def _stems(words: set[str]) -> set[str]:
    """What a word of a question may match: a source word's stem, or its first two or three
    letters (a short word, an abbreviation)."""
    return {_stem(w) for w in words} | {w[:n] for w in words for n in (2, 3)}


# --- training data ----------------------------------------------------------------------


def sentence_spans(context: str) -> list[tuple[int, int, str]]:
    """Each sentence of a paragraph with its character span in it."""
    from .derive import sentences

    out, at = [], 0
    for s in sentences(context):
        found = context.find(s, at)
        if found < 0:  # whitespace differs: locate by its first words
            found = context.find(s.split()[0], at)
        if found < 0:
            continue
        out.append((found, found + len(s), s))
        at = found + len(s)
    return out


def training_examples(squad: dict[str, Any]) -> list[Example]:
    """Both tasks' examples from a SQuAD-shaped document (`{"articles": [{"title",
    "paragraphs": [{"context", "questions": [{"question", "answers", "answer_start"}]}]}]}`).

    A question joins the sentence its answer starts in; an answer that does not lie within
    that sentence (it spans two) is left out, as the writer is never asked for those."""
    examples: list[Example] = []
    for article in squad["articles"]:
        title = article["title"].replace("_", " ")
        for paragraph in article["paragraphs"]:
            for p, found in asked_sentences(title, paragraph):
                answers = parse_answers(ANSWER_SEPARATOR.join(a for _, a, _ in sorted(found)))
                examples.append(Example(answers_prompt(p), ANSWER_SEPARATOR.join(answers), SYSTEM))
                for _, answer, question in found:
                    examples.append(Example(question_prompt(p, answer), question.strip(), SYSTEM))
    return examples


def asked_sentences(title: str, paragraph: dict[str, Any]
                    ) -> list[tuple[Passage, list[tuple[int, str, str]]]]:
    """The sentences of a SQuAD paragraph its questions ask about, in order, each as the writer
    is shown it, with the (answer start, answer, question) of each question whose answer starts
    in it; an answer that does not lie within that sentence (it spans two) is left out."""
    spans = sentence_spans(paragraph["context"])
    per_sentence: dict[int, list[tuple[int, str, str]]] = {}
    for q in paragraph["questions"]:
        start, answer = q.get("answer_start"), q["answers"][0]
        if start is None:
            continue
        for i, (a, b, _) in enumerate(spans):
            if a <= start < b and start + len(answer) <= b:
                per_sentence.setdefault(i, []).append((start, answer, q["question"]))
                break
    return [(Passage(title, spans[i - 1][2] if i else "", spans[i][2]), found)
            for i, found in sorted(per_sentence.items())]


def train_bundled(squad_path: Path, out: Path, epochs: int,
                  examples_of: Callable[[dict[str, Any]], list[Example]]) -> None:
    """Train an adapter of the bundled model (the writer's, or the reader's: `reader`) on the
    examples `examples_of` makes of a SQuAD-shaped file, with the product's own trainer, and
    record its data and training beside it."""
    import hashlib
    import random
    import time

    from ..learning.training import TrainSettings, train_adapter
    from ..models.runtime import ModelRuntime

    data = json.loads(squad_path.read_text())
    examples = examples_of(data)
    random.Random(0).shuffle(examples)
    settings = TrainSettings(rank=16, scale=2.0, learning_rate=3e-4, epochs=epochs,
                             warmup_steps=50, min_lr_ratio=0.1, batch_size=8,
                             max_batch_tokens=2048, checkpoint_every=100)
    run_key = hashlib.sha256(squad_path.read_bytes()).hexdigest()[:16] + f"-e{epochs}"
    began = time.time()

    def progress(p: Any) -> None:
        if p.step % 20 == 0 or p.step == p.total_steps:
            eta = "?" if p.eta_seconds is None else f"{p.eta_seconds / 60:.0f}"
            print(f"step {p.step}/{p.total_steps} epoch {p.epoch} loss {p.loss:.3f} "
                  f"{p.tokens_per_second:.0f} tok/s eta {eta} min", flush=True)

    with ModelRuntime(None) as runtime:
        source = runtime.loaded.result().source
        if Path(source.location).name != BASE_MODEL:
            sys.exit(f"the adapter is trained on {BASE_MODEL}, not {source.name}")

        def job(base: Any) -> Any:
            return train_adapter(base.model, base.tokenizer, examples, out, settings=settings,
                                 run_key=run_key, on_progress=progress)

        result = runtime.submit(job).result()
    record = {
        "base_model": BASE_MODEL,
        "data": {"file": squad_path.name, "sha256": hashlib.sha256(squad_path.read_bytes())
                 .hexdigest(), "source": data.get("source", ""),
                 "articles": [a["title"] for a in data["articles"]],
                 "examples": len(examples)},
        "training": {"rank": settings.rank, "scale": settings.scale,
                     "learning_rate": settings.learning_rate, "epochs": epochs,
                     "batch_size": settings.batch_size, "steps": result.steps,
                     "tokens": result.tokens, "final_loss": round(result.final_loss, 4),
                     "seconds": round(result.seconds), "wall_seconds": round(time.time() - began)},
    }
    (out / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["training"]))


def train_command(argv: list[str], name: str, out: Path,
                  examples_of: Callable[[dict[str, Any]], list[Example]]) -> None:
    """`python -m memo_mlx.NAME train SQUAD_TRAIN.json`: the command line of a bundled adapter
    (the writer's, the reader's)."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m memo_mlx.{name}")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help=f"train the {name} adapter (once, by the developers)")
    train.add_argument("squad", type=Path, help="SQuAD-shaped training data (never the dev set)")
    train.add_argument("--out", type=Path, default=out)
    train.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "train":
        train_bundled(args.squad, args.out, args.epochs, examples_of)


def main(argv: list[str]) -> None:
    train_command(argv, "writer", writer_dir(), training_examples)


if __name__ == "__main__":
    from ..blas import reexec_with_fast_blas

    # An hour of training: with MLX's bundled reference BLAS it would be a day (the launchers
    # `memo` and `memo-app` do the same).
    reexec_with_fast_blas()
    main(sys.argv[1:])
