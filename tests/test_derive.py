"""Reflections derived from the text by rule: real fronted questions that name their subject,
answered by the fact restated, checked against the source (see `memo_mlx.reflections.derive`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memo_mlx.reflections import derive
from memo_mlx.reflections.derive import Pair

# A small fictional folder: three "documents" that share names (Mara Quill, Port Aldren), a list,
# and a table rendered the way the extractor renders CSV rows.
BRIDGE = """Harbour History > Hollow Bridge
The Hollow Bridge is a stone bridge in Port Aldren. It was designed by Mara Quill and built in \
1987. The bridge is 3 km long and has 40 lanterns. In 1990, the city council added a toll of 7 \
coins. Dr. J. R. Osric wrote a history of the bridge in 2003."""

QUILL = """People > Mara Quill
Mara Quill is a civil engineer. She was born in Vell on 3 March 1951. Her sister Ilse Quill runs \
a bakery on Salt Street. Mara Quill founded Nimbus Labs in 2019. The company has 40 employees and \
is based in Port Aldren."""

ALDREN = """Places > Port Aldren
Port Aldren is the capital of Vell. Vell is a small country on the northern coast. The city is \
home to the Lantern Museum, which opened in 1990. Port Aldren has a population of 40,000.

The museum holds three collections:
- maps of the harbour
- ship lanterns
- letters from Mara Quill"""

STAFF = """Staff
Name: Ada Brook; City: London; Role: Curator
Name: Tomas Fell; City: Port Aldren; Role: Archivist"""

GUIDE = """Guide > Install
To install MeMo, run make setup in the project folder. MeMo runs on macOS and Linux. \
If the model fails to load, delete the cache folder. The settings file lives in the home folder."""

LANTERN = """Lantern Museum
This is the oldest museum in Vell. A ticket to the Lantern Museum costs 7 coins. The museum is \
closed on Mondays. Its director, Lena Ash, said that a new wing would open in May 2031. Oren \
Vale's sister is Lena Ash."""

CHUNKS = {"bridge": BRIDGE, "quill": QUILL, "aldren": ALDREN, "staff": STAFF, "guide": GUIDE,
          "lantern": LANTERN}


def context_of(text: str) -> str:
    return text.split("\n", 1)[0]


def derived(text: str) -> dict[str, list[Pair]]:
    return derive.derive(text, context=context_of(text))


def all_pairs(text: str) -> list[Pair]:
    return [p for pairs in derived(text).values() for p in pairs]


def find(pairs: list[Pair], question: str) -> Pair:
    for p in pairs:
        if p.question == question:
            return p
    listed = "\n".join(p.question for p in pairs)
    raise AssertionError(f"no pair asks {question!r}; asked:\n{listed}")


# Units ----------------------------------------------------------------------------------------


def test_sentences_keep_abbreviations_initials_and_decimals_whole():
    text = ("Dr. J. R. Osric moved to the U.S. in 1990. The toll was 3.5 coins, e.g. cheap. "
            "Mr. Fell agreed! \"Stop.\" She left. Was it late?")
    assert derive.sentences(text) == [
        "Dr. J. R. Osric moved to the U.S. in 1990.",
        "The toll was 3.5 coins, e.g. cheap.",
        "Mr. Fell agreed!",
        "\"Stop.\"",
        "She left.",
        "Was it late?",
    ]


def test_headings_list_items_and_records_are_their_own_units():
    text = ("Guide > Install\nRun make setup.\nIt takes a minute.\n\nYou need:\n- Python 3.11\n"
            "- 2 GB of disk\n\nName: Ada; City: London\nserver.port: 8080")
    assert derive.sentences(text) == [
        "Guide > Install", "Run make setup.", "It takes a minute.", "You need:",
        "- Python 3.11", "- 2 GB of disk", "Name: Ada; City: London", "server.port: 8080",
    ]


def test_entities_are_names_and_dates_most_salient_first():
    names = derive.entities(QUILL)
    assert names[0] == "Mara Quill"
    for expected in ("Ilse Quill", "Nimbus Labs", "Vell", "Salt Street", "Port Aldren",
                     "3 March 1951", "2019"):
        assert expected in names
    assert not any(n.split()[0] in ("The", "In", "She", "Her") for n in names)
    assert "Dr. J. R. Osric" in derive.entities(BRIDGE)
    assert "Ada Brook" in derive.entities(STAFF)  # a table's first column names its rows


# Pronouns -------------------------------------------------------------------------------------


def test_pronouns_and_the_company_are_replaced_by_the_name():
    resolved = derive.resolve_pronouns(derive.sentences(QUILL.split("\n", 1)[1]))
    assert resolved[1] == "Mara Quill was born in Vell on 3 March 1951."
    assert resolved[2].startswith("Mara Quill's sister Ilse Quill runs")
    assert resolved[4].startswith("Nimbus Labs has 40 employees")  # "The company"
    bridge = derive.resolve_pronouns(derive.sentences(BRIDGE.split("\n", 1)[1]))
    assert bridge[1].startswith("The Hollow Bridge was designed by Mara Quill")


def test_she_is_never_bound_to_a_man_named_nearby():
    """A real biography (tests/realdocs): the rules once made Pierre Curie the first woman to
    win a Nobel Prize."""
    text = (Path(__file__).parent / "realdocs" / "marie-curie.md").read_text()
    resolved = derive.resolve_pronouns(derive.sentences(text.split("\n", 1)[1]))
    for sentence in resolved:
        if re.search(r"first woman|1911|polonium|died", sentence):
            assert "Pierre" not in sentence and "Becquerel" not in sentence, sentence
    assert any(s.startswith("Marie Curie was the first woman") for s in resolved)


def test_pronouns_are_left_alone_when_unsure():
    out = derive.resolve_pronouns(["It is likely that it rains.",
                                   "Mara Quill met Ilse Quill in 2001.", "She gave her a map."])
    assert out[0] == "It is likely that it rains."  # no referent: untouched
    assert out[2] == "She gave her a map."  # two women in play: either could be "she"
    two = derive.resolve_pronouns(["Mara Quill built the Hollow Bridge and the Salt Mill.",
                                   "It is old."])
    assert two[1] == "It is old."  # two things it could be


# Step 1: direct facts -------------------------------------------------------------------------


@pytest.mark.parametrize("question, facts", [
    ("When was the Hollow Bridge built?", ["1987"]),
    ("Who designed the Hollow Bridge?", ["Mara Quill"]),
    ("How long is the Hollow Bridge?", ["3 km"]),
    ("How many lanterns does the Hollow Bridge have?", ["40"]),
    ("Where is the Hollow Bridge?", ["Port Aldren"]),
    ("When did the city council add a toll of 7 coins?", ["1990"]),
    ("What did Dr. J. R. Osric write?", ["history of the Hollow Bridge"]),
])
def test_direct_questions_about_the_bridge(question, facts):
    pair = find(derive.direct_pairs(BRIDGE, context=context_of(BRIDGE)), question)
    assert pair.kind == "direct"
    for fact in facts:
        assert fact in pair.answer
    assert pair.answer.endswith(".")
    assert pair.evidence in BRIDGE


def test_direct_questions_name_the_subject_a_pronoun_stood_for():
    pairs = derive.direct_pairs(QUILL, context=context_of(QUILL))
    born = find(pairs, "When was Mara Quill born?")
    assert born.answer == "Mara Quill was born in Vell on 3 March 1951."
    assert born.evidence == "She was born in Vell on 3 March 1951."  # as written
    expected = {
        "Where was Mara Quill born?": "Mara Quill was born in Vell on 3 March 1951.",
        "Who is Mara Quill?": "Mara Quill is a civil engineer.",
        "What did Mara Quill found?": "Mara Quill founded Nimbus Labs in 2019.",
        "How many employees does Nimbus Labs have?": "Nimbus Labs has 40 employees.",
        "Where is Nimbus Labs based?": "Nimbus Labs is based in Port Aldren.",
        "Who is Ilse Quill?": "Ilse Quill is Mara Quill's sister.",  # "Her sister Ilse Quill"
        "What does Ilse Quill run?": "Ilse Quill runs a bakery on Salt Street.",
    }
    for question, answer in expected.items():
        assert find(pairs, question).answer == answer


def test_possessive_quantity_and_list_questions():
    pairs = derive.direct_pairs(ALDREN, context=context_of(ALDREN))
    assert find(pairs, "What is the population of Port Aldren?").answer == (
        "Port Aldren has a population of 40,000.")
    assert find(pairs, "What is Port Aldren home to?").answer == (
        "Port Aldren is home to the Lantern Museum.")
    assert find(pairs, "When did the Lantern Museum open?").answer == (
        "The Lantern Museum opened in 1990.")
    collections = find(pairs, "Which collections does the Lantern Museum hold?")
    for item in ("maps of the harbour", "ship lanterns", "letters from Mara Quill"):
        assert item in collections.answer
    assert "- ship lanterns" in collections.evidence


def test_copulas_possessives_prices_and_this():
    pairs = derived(LANTERN)
    direct, entity = pairs["direct"], pairs["entity"]
    # "This is the oldest museum in Vell." under the heading "Lantern Museum"
    assert find(direct, "What is the Lantern Museum?").answer == (
        "The Lantern Museum is the oldest museum in Vell.")
    assert find(entity, "What is the oldest museum in Vell?").answer.startswith(
        "The Lantern Museum")
    assert find(direct, "How much does a ticket to the Lantern Museum cost?").answer == (
        "A ticket to the Lantern Museum costs 7 coins.")
    assert find(direct, "When is the Lantern Museum closed?").answer == (
        "The Lantern Museum is closed on Mondays.")
    assert find(direct, "Who is Oren Vale's sister?").answer == "Oren Vale's sister is Lena Ash."
    assert find(pairs["indirect"], "Whose sister is Lena Ash?").answer == (
        "Lena Ash is Oren Vale's sister.")
    # "Its director, Lena Ash, said ...": the museum's director, and what she said
    assert find(entity, "Who was the Lantern Museum's director?").answer.startswith("Lena Ash")
    assert find(direct, "What did Lena Ash say?").answer == (
        "Lena Ash said that a new wing would open in May 2031.")


def test_records_are_asked_by_their_first_column():
    pairs = derive.direct_pairs(STAFF, context="Staff")
    assert find(pairs, "What is Ada Brook's city?").answer == "Ada Brook's city is London."
    assert find(pairs, "What is Tomas Fell's role?").answer == "Tomas Fell's role is Archivist."
    json_like = "[0].name: Ada Brook\n[0].city: London\n[0].born: 1984"
    pairs = derive.direct_pairs(json_like)
    assert find(pairs, "What is Ada Brook's city?").answer == "Ada Brook's city is London."
    assert find(pairs, "When was Ada Brook born?").answer == "Ada Brook was born in 1984."


def test_instructions_and_the_fallback():
    pairs = derive.direct_pairs(GUIDE, context=context_of(GUIDE))
    assert find(pairs, "How do you install MeMo?").answer == (
        "To install MeMo, run make setup in the project folder.")
    assert find(pairs, "What should you do if the model fails to load?").answer == (
        "If the model fails to load, delete the cache folder.")
    assert find(pairs, "What does MeMo run on?").answer == "MeMo runs on macOS and Linux."
    # No rule reads "lives in the home folder"; the sentence still gets an honest pair.
    fallback = find(pairs, "What does Guide (Install) say about the settings file?")
    assert fallback.answer == "The settings file lives in the home folder."


# Steps 2 to 5 ---------------------------------------------------------------------------------


def test_indirect_questions_combine_two_sentences():
    pairs = derive.indirect_pairs(QUILL, context=context_of(QUILL))
    based = find(pairs, "Where is the company that Mara Quill founded based?")
    assert based.answer == "Nimbus Labs, which Mara Quill founded, is based in Port Aldren."
    assert "Mara Quill founded Nimbus Labs in 2019." in based.evidence
    assert "is based in Port Aldren" in based.evidence
    born = find(pairs, "Where was the civil engineer who founded Nimbus Labs born?")
    assert born.answer.startswith("Mara Quill, who founded Nimbus Labs, was born in Vell")
    assert find(pairs, "Whose sister is Ilse Quill?").answer == "Ilse Quill is Mara Quill's sister."
    assert all(p.kind == "indirect" for p in pairs)


def test_consolidated_questions_merge_facts_about_one_subject():
    pairs = derived(BRIDGE)["consolidated"]
    merged = [p for p in pairs if "Hollow Bridge" in p.question and "1987" in p.answer]
    assert merged, [p.question for p in pairs]
    assert "Mara Quill" in merged[0].answer and " and " in merged[0].question
    given = [
        Pair("When was the Hollow Bridge built?", "The Hollow Bridge was built in 1987.",
             "direct", "It was built in 1987."),
        Pair("Who designed the Hollow Bridge?", "The Hollow Bridge was designed by Mara Quill.",
             "direct", "It was designed by Mara Quill."),
    ]
    (one,) = derive.consolidated_pairs(given)
    assert one.question == "When was the Hollow Bridge built and who designed it?"
    assert one.answer == "The Hollow Bridge was built in 1987 and was designed by Mara Quill."
    assert one.kind == "consolidated"
    assert one.evidence == "It was built in 1987.\nIt was designed by Mara Quill."


@pytest.mark.parametrize("text, question, name", [
    (QUILL, "Which civil engineer founded Nimbus Labs in 2019?", "Mara Quill"),
    (QUILL, "Who founded Nimbus Labs in 2019?", "Mara Quill"),
    (QUILL, "Who is Mara Quill's sister?", "Ilse Quill"),
    (QUILL, "Which company has 40 employees?", "Nimbus Labs"),
    (ALDREN, "What is the capital of Vell?", "Port Aldren"),
    (ALDREN, "Which city is home to the Lantern Museum?", "Port Aldren"),
    (ALDREN, "Which museum opened in 1990?", "The Lantern Museum"),
    (BRIDGE, "Which stone bridge was built in 1987?", "The Hollow Bridge"),
    (BRIDGE, "Who wrote a history of the Hollow Bridge in 2003?", "Dr. J. R. Osric"),
])
def test_entity_questions_are_answered_with_the_name(text, question, name):
    pair = find(derive.entity_pairs(text, context=context_of(text)), question)
    assert pair.kind == "entity"
    assert pair.answer.startswith(name)


def test_reverse_question_from_a_passive_sentence():
    pairs = derive.entity_pairs(BRIDGE, context=context_of(BRIDGE))
    pair = find(pairs, "What did Mara Quill design?")
    assert pair.answer == "The Hollow Bridge was designed by Mara Quill."


def test_cross_questions_need_both_chunks_and_cite_them():
    chunks = [(1, BRIDGE), (2, QUILL), (3, ALDREN)]
    contexts = {i: context_of(t) for i, t in chunks}
    found = derive.cross_pairs(chunks, contexts=contexts)
    by_question = {p.question: (p, ids) for p, ids in found}
    pair, ids = by_question["Where was the civil engineer who designed the Hollow Bridge born?"]
    assert ids == (1, 2)
    assert pair.kind == "cross"
    assert pair.answer == ("Mara Quill, who designed the Hollow Bridge, was born in Vell on "
                           "3 March 1951.")
    assert "designed by Mara Quill" in pair.evidence and "born in Vell" in pair.evidence
    pair, ids = by_question["In which country is Nimbus Labs based?"]
    assert ids == (2, 3)
    assert pair.answer == "Nimbus Labs is based in Port Aldren, which is the capital of Vell."
    for pair, ids in found:
        assert len(ids) == 2 and ids[0] != ids[1]
        source = "\n".join(dict(chunks)[i] for i in ids)
        assert derive.self_contained(pair.question) and derive.supported(pair.answer, source)
    assert derive.cross_pairs([(1, BRIDGE), (4, STAFF)]) == []  # no shared name, nothing


# Every pair -----------------------------------------------------------------------------------

_PRONOUN_START = re.compile(r"^(?:he|she|it|they|this|that|these|those|his|her|its|their)\b",
                            re.I)


@pytest.mark.parametrize("name", sorted(CHUNKS))
def test_every_pair_is_self_contained_supported_and_well_formed(name):
    text = CHUNKS[name]
    out = derived(text)
    assert list(out) == ["direct", "indirect", "consolidated", "entity"]
    source = f"{context_of(text)}\n{text}"
    keys = set()
    for kind, pairs in out.items():
        for p in pairs:
            assert p.kind == kind
            assert derive.self_contained(p.question), p.question
            assert derive.supported(p.answer, source), p
            assert p.question[0].isupper() and p.question.endswith("?")
            assert p.answer[0].isupper() and p.answer.endswith(".")
            lowered = p.question.lower()
            for bad in ("fill in the blank", "tell me a fact", "the text", "the passage",
                        "this document", "___"):
                assert bad not in lowered and bad not in p.answer.lower()
            assert not _PRONOUN_START.match(p.question)
            assert not re.search(r"\b(?:he|she|they|this|these)\b", p.answer, re.I), p.answer
            assert re.match(r"^(?:What|Who|Whose|When|Where|Which|How|In which|Since when)\b",
                            p.question), p.question  # fronted, never "X was built in what year"
            key = re.sub(r"\W+", " ", lowered).strip()
            assert key not in keys, f"asked twice: {p.question}"
            keys.add(key)


@pytest.mark.parametrize("name", sorted(CHUNKS))
def test_every_informative_sentence_is_taught(name):
    text = CHUNKS[name]
    evidence = "\n".join(p.evidence for p in all_pairs(text))
    units = derive.sentences(text)[1:]  # the first line is the heading: context, not a fact
    assert units
    for unit in units:
        if len(re.findall(r"\w+", unit)) >= 2:
            assert unit in evidence, f"nothing asks about: {unit}"


def test_code_is_not_taught_as_sentences():
    code = "def load(path):\n    with open(path) as f:\n        return json.load(f)"
    assert all(not pairs for pairs in derive.derive(code).values())
    source = ('class Settings:\n    """Settings are kept in one TOML file per memory."""\n\n'
              "    path: str\n    size: int  # in bytes\n")
    out = derive.derive(source, context="settings.py")
    taught = [p for pairs in out.values() for p in pairs]
    assert taught and all("str" not in p.answer and "int" not in p.answer for p in taught)


def test_a_readme_chunk_is_prose_with_inline_code():
    # As the Chunker writes a README: the heading path over each section, a fenced block.
    chunk = ("tidyclip\ntidyclip cleans up text copied from PDF files.\n\n"
             "tidyclip > Installation\nInstall it from PyPI with `pip install tidyclip`.\n\n"
             "```sh\npip install tidyclip\n```\n\n"
             "tidyclip > Usage\nRun `tidyclip paste` to clean the clipboard.\n\n"
             "tidyclip > Configuration\nThe `max_line_length` setting defaults to 88.")
    assert derive.sentences(chunk, headings=False) == [
        "tidyclip cleans up text copied from PDF files.",  # its title line is no part of it
        "Install it from PyPI with `pip install tidyclip`.",
        "Run `tidyclip paste` to clean the clipboard.",
        "The `max_line_length` setting defaults to 88."]


def test_deterministic():
    first = derived(QUILL)
    assert derived(QUILL) == first
    assert derive.cross_pairs([(1, BRIDGE), (2, QUILL)]) == derive.cross_pairs([(1, BRIDGE),
                                                                              (2, QUILL)])


# Checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("question", [
    "When was the Hollow Bridge built?",
    "Which engineer designed the Hollow Bridge?",
    "When was the Hollow Bridge built and who designed it?",
    "How many employees does Nimbus Labs have?",
    "In which country is Nimbus Labs based?",
    "What did the city council add?",
])
def test_self_contained_accepts(question):
    assert derive.self_contained(question)


@pytest.mark.parametrize("question", [
    "What does the text say about the bridge?",
    "According to the passage, who built it?",
    "Fill in the blank: The bridge was built in ___?",
    "Tell me a fact about Mara Quill?",
    "When was it built?",
    "Who did she marry?",
    "What is this?",
    "The Hollow Bridge was built in what year?",
    "When was the Hollow Bridge built",
    "what is it?",
    "Why?",
])
def test_self_contained_rejects(question):
    assert not derive.self_contained(question)


def test_supported_checks_names_numbers_and_words():
    source = "The Hollow Bridge was designed by Mara Quill. It has 40 lanterns and 3.5 km of rail."
    assert derive.supported("The Hollow Bridge was designed by Mara Quill.", source)
    assert derive.supported("Mara Quill designed the Hollow Bridge.", source)
    assert derive.supported("The Hollow Bridge has 40 lanterns.", source)
    assert derive.supported("The bridges' lantern count is 40.", source) is False  # "count"
    assert not derive.supported("The Hollow Bridge has 41 lanterns.", source)
    assert not derive.supported("The Hollow Bridge has 3.6 km of rail.", source)
    assert not derive.supported("The Hollow Bridge was designed by Ilse Quill.", source)
    assert not derive.supported("The.", source)


# For people: read what a memory would be taught -----------------------------------------------


def test_quality_report(capsys):
    """Prints every pair for the corpus (run with -s to read them)."""
    lines = []
    for name, text in CHUNKS.items():
        lines.append(f"== {name}: {context_of(text)}")
        for kind, pairs in derived(text).items():
            for p in pairs:
                lines.append(f"  [{kind}] {p.question}\n      -> {p.answer}")
    chunks = [(1, BRIDGE), (2, QUILL), (3, ALDREN)]
    lines.append("== cross")
    for p, ids in derive.cross_pairs(chunks, contexts={i: context_of(t) for i, t in chunks}):
        lines.append(f"  {ids} {p.question}\n      -> {p.answer}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(lines) > 60


# Pages of the first fiction generator (bench/corpus.py, replaced by memo_mlx.bench.fiction): a town
# page and a person page that share the town.
TOWN = """# Kilbrae

Kilbrae is a harbour town of 5600 people. Its mayor is Mirela Varga. The town festival, the \
Cedar Night, is held every September.
"""

PERSON = """# Alric Dunmore

Alric Dunmore was a glassblower born in Kilbrae in 1963. Alric founded the Grennock Glass Guild \
in 1992. Her favourite material was amber.

## Later life

In 2002, Alric Dunmore moved to Orvane. The Grennock Glass Guild still keeps Alric Dunmore's \
notebooks.
"""

MAYOR = """# Mirela Varga

Mirela Varga was an archivist born in Orvane in 1950. Mirela founded the Tessaly Map Archive in \
1980. Her favourite material was slate.
"""


def test_town_page_mayor_population_and_festival():
    d = derive.derive(TOWN, context="kilbrae")
    direct, entity = d["direct"], d["entity"]
    assert find(direct, "How many people live in Kilbrae?").answer == (
        "Kilbrae is a harbour town of 5600 people.")
    assert find(direct, "What is the population of Kilbrae?").answer.endswith("5600 people.")
    # "Its" is the town of the sentence before
    assert find(direct, "Who is Kilbrae's mayor?").answer == "Kilbrae's mayor is Mirela Varga."
    assert find(direct, "Who is the mayor of Kilbrae?").answer.endswith("is Mirela Varga.")
    assert find(entity, "Of which harbour town is Mirela Varga the mayor?").answer == (
        "Mirela Varga is the mayor of Kilbrae.")
    # "the town festival" is Kilbrae's festival
    assert find(direct, "When is the Cedar Night held?").answer == (
        "The Cedar Night, the town festival of Kilbrae, is held every September.")
    assert find(entity, "What is the town festival of Kilbrae?").answer == (
        "The Cedar Night is the town festival of Kilbrae.")
    assert not any(p.question.startswith("Which town festival") for p in entity)  # vague


def test_multi_word_names_keep_their_capitals():
    text = TOWN.replace("Kilbrae", "Port Aldren")
    pairs = [p for ps in derive.derive(text, context="port-aldren").values() for p in ps]
    assert find(pairs, "Who is Port Aldren's mayor?").answer == (
        "Port Aldren's mayor is Mirela Varga.")
    assert not any(re.search(r"\bport Aldren", p.question + p.answer) for p in pairs)


def test_person_page_profession_attribute_first_name_and_later_life():
    d = derive.derive(PERSON, context="Alric Dunmore")
    direct, entity = d["direct"], d["entity"]
    assert find(direct, "What was Alric Dunmore's favourite material?").answer == (
        "Alric Dunmore's favourite material was amber.")
    assert find(direct, "What was Alric Dunmore's profession?").answer == (
        "Alric Dunmore was a glassblower.")
    assert find(direct, "What did Alric Dunmore work as?").answer == (
        "Alric Dunmore was a glassblower.")
    assert find(direct, "Where was Alric Dunmore born?").answer == (
        "Alric Dunmore was born in Kilbrae in 1963.")
    assert "When was Alric Dunmore born?" in {p.question for p in direct}
    assert "Where was Alric Dunmore?" not in {p.question for p in direct}
    # "Alric" alone is Alric Dunmore, in questions and answers
    assert find(direct, "What did Alric Dunmore found?").answer == (
        "Alric Dunmore founded the Grennock Glass Guild in 1992.")
    assert find(direct, "When did Alric Dunmore move to Orvane?").answer == (
        "Alric Dunmore moved to Orvane in 2002.")
    assert find(direct, "Where did Alric Dunmore move in 2002?").answer.endswith(
        "to Orvane in 2002.")
    assert find(entity, "Who keeps Alric Dunmore's notebooks?").answer == (
        "The Grennock Glass Guild still keeps Alric Dunmore's notebooks.")
    assert find(direct, "What does the Grennock Glass Guild keep?").answer.startswith(
        "The Grennock Glass Guild still keeps")
    assert not any(p.question.startswith("What is known about") for p in direct)
    everything = [p for ps in d.values() for p in ps]
    assert not any(re.search(r"\bAlric\b(?! Dunmore)", p.question + p.answer) for p in everything)


def test_articles_are_mended_in_answers():
    text = "Mirela Varga was a archivist born in Orvane in 1950."
    direct = derive.direct_pairs(text)
    assert find(direct, "What was Mirela Varga's profession?").answer == (
        "Mirela Varga was an archivist.")


def test_cross_pairs_over_a_person_and_the_town_of_their_birth():
    pairs = derive.cross_pairs([(1, PERSON), (2, TOWN)],
                               contexts={1: "Alric Dunmore", 2: "kilbrae"})
    by_q = {p.question: (p, ids) for p, ids in pairs}
    p, ids = by_q["How many people live in the harbour town where Alric Dunmore was born?"]
    assert p.answer == "Kilbrae, where Alric Dunmore was born, is a harbour town of 5600 people."
    assert ids == (1, 2)
    p, ids = by_q["Who is the mayor of the harbour town where Alric Dunmore was born?"]
    assert p.answer == "The mayor of Kilbrae, where Alric Dunmore was born, is Mirela Varga."
    assert ids == (1, 2)
    for p, _ in pairs:
        assert derive.self_contained(p.question) and derive.supported(p.answer, PERSON + TOWN)


def test_cross_pairs_over_a_town_and_its_mayor():
    pairs = derive.cross_pairs([(1, TOWN), (2, MAYOR)],
                               contexts={1: "kilbrae", 2: "Mirela Varga"})
    by_q = {p.question: (p, ids) for p, ids in pairs}
    p, ids = by_q["What did the mayor of Kilbrae found?"]
    assert p.answer == ("Mirela Varga, the mayor of Kilbrae, founded the Tessaly Map Archive in "
                        "1980.")
    assert ids == (1, 2)
    assert "Where was the mayor of Kilbrae born?" in by_q
    for p, _ in pairs:
        assert derive.self_contained(p.question) and derive.supported(p.answer, TOWN + MAYOR)
