"""The knowledge benchmark's fictional corpus: facts that hold across documents, questions whose
gold answers the documents really give (and only one way), distractors that cannot change an
answer, and none of the questions a memory is taught."""

from __future__ import annotations

import calendar
import itertools
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from memo_mlx.bench.fiction import (
    KINDS,
    Corpus,
    Question,
    make_corpus,
    read_questions,
    write_corpus,
)
from memo_mlx.reflections.derive import cross_pairs, derive, entities
from memo_mlx.scoring import normalise


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return make_corpus()


def has(text: str, span: str) -> bool:
    """A span as written, on word boundaries."""
    return re.search(rf"(?<!\w){re.escape(span)}(?!\w)", text) is not None


def title(text: str) -> str:
    return text.splitlines()[0].removeprefix("# ")


def names_in(question: str) -> list[str]:
    """The capitalised runs a question names ("Aldren Institute of Bridges", "River Oss"),
    not its first word."""
    rest = question.split(" ", 1)[1]
    return [m.removesuffix("'s")
            for m in re.findall(r"[A-Z][\w']*(?:(?: of)? [A-Z][\w']*)*", rest)]


def test_same_arguments_same_corpus(corpus: Corpus):
    assert make_corpus() == corpus
    again = make_corpus(12, seed=3, distractors=4)
    assert again == make_corpus(12, seed=3, distractors=4)
    assert make_corpus(12, seed=4, distractors=4) != again


def test_documents_do_not_depend_on_the_distractors(corpus: Corpus):
    assert make_corpus(distractors=0).documents == corpus.documents
    assert make_corpus(distractors=0).distractors == {}


def test_default_size_and_question_mix(corpus: Corpus):
    assert len(corpus.documents) >= 30
    assert len(corpus.distractors) == 12
    assert len(corpus.questions) >= 150
    kinds = Counter(q.kind for q in corpus.questions)
    assert set(kinds) == set(KINDS)
    assert all(kinds[k] >= 25 for k in KINDS), kinds
    assert 0.12 <= kinds["unanswerable"] / len(corpus.questions) <= 0.18
    assert len({q.id for q in corpus.questions}) == len(corpus.questions)
    assert len({q.question for q in corpus.questions}) == len(corpus.questions)
    assert all(re.fullmatch(r"q\d{3}", q.id) for q in corpus.questions)


def test_documents_are_short_plain_markdown(corpus: Corpus):
    for name, text in {**corpus.documents, **corpus.distractors}.items():
        assert name.endswith(".md") and name == name.lower()
        assert text.startswith("# ") and text.count("\n# ") == 0
        assert 1 <= text.count("\n## ") <= 2, name
        assert 300 <= len(text.encode()) <= 800, (name, len(text.encode()))
        body = " ".join(line for line in text.splitlines() if line and line[0] != "#")
        assert 4 <= len(re.findall(r"[.?!](?:\s|$)", body)) <= 7, name
    assert not set(corpus.documents) & set(corpus.distractors)


def test_smaller_and_larger_corpora():
    small = make_corpus(12)
    assert len(small.documents) == 12 and {q.kind for q in small.questions} == set(KINDS)
    assert len(make_corpus(4, distractors=0).documents) == 4
    assert len(make_corpus(60).questions) >= 250
    with pytest.raises(ValueError, match="at least 4"):
        make_corpus(3)
    with pytest.raises(ValueError, match="name pools"):
        make_corpus(200)


def test_gold_answers_are_in_their_documents(corpus: Corpus):
    for q in corpus.questions:
        if q.kind == "unanswerable":
            assert q.answers == () and q.documents == ()
            continue
        assert q.answers and q.documents, q
        texts = [corpus.documents[d] for d in q.documents]  # KeyError: a file that is not there
        if q.kind == "multihop":
            # The first document names the bridge, whose own page gives the answer.
            assert len(texts) == 2, q
            assert has(texts[0], title(texts[1])), q
            assert all(has(texts[1], a) for a in q.answers), q
        else:
            assert all(has(t, a) for t in texts for a in q.answers), q


def test_distractors_never_name_what_a_question_asks_about(corpus: Corpus):
    distractors = "\n".join(corpus.distractors.values())
    documents = "\n".join(corpus.documents.values())
    months = set(calendar.month_name)
    for q in corpus.questions:
        # Names, not values: a distractor may well be born in 1941 or love copper.
        answers = [a for a in q.answers if a[0].isupper() and a not in months]
        for name in [*names_in(q.question), *answers]:
            assert not has(distractors, name), (name, q)
    # Most unanswerable questions ask about names reserved to appear nowhere at all.
    nowhere = [q for q in corpus.questions if q.kind == "unanswerable" and any(
        not has(documents, n) and not has(distractors, n) for n in names_in(q.question))]
    unanswerable = [q for q in corpus.questions if q.kind == "unanswerable"]
    assert len(nowhere) >= len(unanswerable) / 2


def test_gold_answers_are_not_pieces_of_each_other(corpus: Corpus):
    golds = {normalise(q.answers[0]) for q in corpus.questions if q.answers
             and not q.answers[0].replace(",", "").isdigit()}
    for a, b in itertools.permutations(golds, 2):
        assert f" {a} " not in f" {b} ", (a, b)


# Facts read back from the text alone, to check each reverse question has one answer.

_P = r"[A-Z]\w+ [A-Z]\w+"
_T = r"[A-Z]\w+"
_O = r"[A-Z][\w ]+?"


def _facts(pages: dict[str, str]) -> dict[str, list[tuple[str, ...]]]:
    facts: dict[str, list[tuple[str, ...]]] = {k: [] for k in (
        "born", "moved", "likes", "founded", "director", "members", "home", "festival",
        "river", "mayor", "population", "org_founder")}

    def find(pattern: str, text: str) -> tuple[str, ...]:
        """The non-empty groups of the first match: alternatives may order them differently."""
        m = re.search(pattern, text)
        assert m, (pattern, text)
        return tuple(g for g in m.groups() if g)

    for text in pages.values():
        name = title(text)
        if "favourite material" in text:  # a person
            t, y = find(rf"born in (?:({_T}) in (\d{{4}})|(\d{{4}}) in ({_T}))", text)
            facts["born"].append((name, *sorted((t, y), key=str.isdigit)))
            t, y = find(rf"(?:In (\d{{4}}), \w+ moved to ({_T})|moved to ({_T}) in (\d{{4}}))",
                        text)
            facts["moved"].append((name, *sorted((t, y), key=str.isdigit)))
            craft = find(r"(?:is an?|, an?|works as an?) ([a-z ]+?)(?: born|,|\.)", text)[0]
            material = find(r"favourite material is (\w+)", text)[0]
            org, year = sorted(find(rf"(?:founded the ({_O}) in (\d{{4}})|In (\d{{4}}), \w+ "
                                    rf"founded the ({_O})\.)", text), key=str.isdigit)
            facts["likes"].append((name, craft, material))
            facts["founded"].append((name, craft, org, year))
        elif "members" in text:  # an organisation
            facts["director"].append((name, *find(rf"director is ({_P})|({_P}) is the current "
                                                  "director", text)))
            facts["members"].append((name, *find(r"has (\d+) members", text)))
            who, year = sorted(find(rf"founded (?:by ({_P}) in (\d{{4}})|in (\d{{4}}) by ({_P}))"
                                    rf"|({_P}) founded the {_O} in (\d{{4}})", text),
                               key=str.isdigit)
            facts["org_founder"].append((name, who, year))
            noun = find(r"## Work\n\nThe (\w+)", text)[0]
            facts["home"].append((name, noun, *find(rf"based in ({_T})", text)))
        else:  # a town
            facts["festival"].append((name, *find(r"the (\w+ (?:Night|Fair|Week|Feast|Regatta|"
                                                  r"Parade))", text)))
            facts["river"].append((name, *find(r"on the River (\w+)", text)))
            facts["mayor"].append((name, *find(rf"mayor (?:of \w+ )?is ({_P})|({_P}) is the "
                                               "mayor", text)))
            facts["population"].append((name, *find(r"(?:of|population of) ([\d,]+)", text)))
    return facts


_REVERSE = {
    rf"Which ([a-z ]+) set up the ({_O})\?": lambda f, g: [
        p for p, c, o, _y in f["founded"] if (c, o) == g],
    rf"Who was born in ({_T}) in (\d{{4}})\?": lambda f, g: [
        p for p, t, y in f["born"] if (t, y) == g],
    rf"Who settled in ({_T}) in (\d{{4}})\?": lambda f, g: [
        p for p, t, y in f["moved"] if (t, y) == g],
    r"Which ([a-z ]+) favours (\w+) above every other material\?": lambda f, g: [
        p for p, c, m in f["likes"] if (c, m) == g],
    r"Which organisation was founded in (\d{4})\?": lambda f, g: [
        o for _p, _c, o, y in f["founded"] if y == g[0]],
    rf"Which organisation has ({_P}) as its director\?": lambda f, g: [
        o for o, d in f["director"] if d == g[0]],
    r"Which organisation counts (\d+) members\?": lambda f, g: [
        o for o, n in f["members"] if n == g[0]],
    rf"Which (\w+) has its home in ({_T})\?": lambda f, g: [
        o for o, n, t in f["home"] if (n, t) == g],
    r"Which town is home to the (.+)\?": lambda f, g: [
        t for t, x in f["festival"] if x == g[0]],
    r"Which town lies on the River (\w+)\?": lambda f, g: [t for t, r in f["river"] if r == g[0]],
    rf"Of which town is ({_P}) the mayor\?": lambda f, g: [t for t, m in f["mayor"] if m == g[0]],
    r"Which town has ([\d,]+) residents\?": lambda f, g: [
        t for t, n in f["population"] if n == g[0]],
}


@pytest.mark.parametrize("world", ["documents", "distractors"])
def test_facts_agree_across_documents(corpus: Corpus, world: str):
    pages = getattr(corpus, world)
    facts = _facts(pages)
    people = {p for p, *_ in facts["born"]}
    founded = {(o, p, y) for p, _c, o, y in facts["founded"]}
    assert facts["org_founder"] and all((o, p, y) in founded for o, p, y in facts["org_founder"])
    assert {p for _o, p in facts["director"]} <= people
    assert {p for _t, p in facts["mayor"]} <= people
    assert len({p for _t, p in facts["mayor"]}) == len(facts["mayor"])  # one town each
    towns = {t for t, _m in facts["mayor"]}
    assert {t for _o, _n, t in facts["home"]} <= towns
    for p, t, y in facts["born"]:
        moved = [(t2, y2) for p2, t2, y2 in facts["moved"] if p2 == p]
        assert moved[0][0] != t and moved[0][1] > y
        # A mayor moved to the town they lead (unless they lead their birthplace).
        assert all(town in (t, moved[0][0]) for town, m in facts["mayor"] if m == p)
    assert len(pages) == sum(map(len, (facts["born"], facts["mayor"], facts["members"])))


def test_every_reverse_question_has_one_answer_in_both_worlds(corpus: Corpus):
    facts = _facts({**corpus.documents, **corpus.distractors})
    assert len(facts["born"]) == 18 + 6 and len(facts["mayor"]) == 9 + 3
    seen = Counter()
    for q in corpus.questions:
        if q.kind != "reverse":
            continue
        for pattern, match in _REVERSE.items():
            m = re.fullmatch(pattern, q.question)
            if m:
                seen[pattern] += 1
                assert match(facts, m.groups()) == list(q.answers), q
                break
        else:
            pytest.fail(f"no check for {q.question!r}")
    assert len(seen) >= 8, seen


def test_no_question_is_a_reflection_the_memory_is_taught(corpus: Corpus):
    """Held out: the rules' own questions (per document, and across two documents) are not
    the benchmark's."""
    taught: set[str] = set()
    docs = list(corpus.documents.values())
    for text in docs:
        for pairs in derive(text, context=title(text)).values():
            taught |= {normalise(p.question) for p in pairs}
    names = [set(entities(text)) for text in docs]
    for (i, a), (j, b) in itertools.combinations(enumerate(docs), 2):
        if names[i] & names[j]:
            taught |= {normalise(p.question) for p, _ in cross_pairs(
                [(i, a), (j, b)], contexts={i: title(a), j: title(b)})}
    assert len(taught) > 300
    assert not [q.question for q in corpus.questions if normalise(q.question) in taught]


# Files -----------------------------------------------------------------------------------------


def test_write_and_read_round_trip(tmp_path: Path, corpus: Corpus):
    out = tmp_path / "kb"
    (out / "docs").mkdir(parents=True)
    (out / "docs" / "stale.md").write_text("# From an older corpus\n")
    (out / "docs" / "notes.txt").write_text("not ours to remove\n")
    write_corpus(corpus, out)
    assert {p.name for p in (out / "docs").glob("*.md")} == set(corpus.documents)
    assert (out / "docs" / "notes.txt").exists()
    assert {p.name: p.read_text() for p in (out / "distractors").iterdir()} == \
        corpus.distractors
    assert (out / "docs" / next(iter(corpus.documents))).read_text() == \
        next(iter(corpus.documents.values()))
    lines = (out / "questions.jsonl").read_text().splitlines()
    assert len(lines) == len(corpus.questions)
    assert set(json.loads(lines[0])) == {"id", "kind", "question", "answers", "documents",
                                         "context"}
    assert read_questions(out / "questions.jsonl") == corpus.questions


@pytest.mark.parametrize("line, message", [
    ("{not json", "Expecting"),
    ('["a list"]', "JSON object"),
    ('{"id": "q9", "kind": "paraphrase", "question": "Who?", "answers": ["X"]}', "documents"),
    ('{"id": "q9", "kind": "guess", "question": "Who?", "answers": ["X"], "documents": []}',
     "kind must be one of"),
    ('{"id": "q9", "kind": "paraphrase", "question": "Who?", "answers": [], "documents": []}',
     "answers must be empty exactly"),
    ('{"id": "q9", "kind": "reverse", "question": "Who?", "answers": [1], "documents": []}',
     "list of strings"),
    ('{"id": "", "kind": "reverse", "question": "Who?", "answers": ["X"], "documents": []}',
     "non-empty string"),
])
def test_read_questions_names_the_bad_line(tmp_path: Path, line: str, message: str):
    good = Question("q1", "reverse", "Which town is home to the Moth Feast?", ("Brackwater",),
                    ("brackwater.md",))
    path = tmp_path / "questions.jsonl"
    path.write_text(json.dumps({**good.__dict__, "answers": list(good.answers),
                                "documents": list(good.documents)}) + "\n\n" + line + "\n")
    with pytest.raises(ValueError, match=rf"questions\.jsonl:3: .*{message}"):
        read_questions(path)
    path.write_text(path.read_text().splitlines()[0] + "\n")
    assert read_questions(path) == [good]
