"""The reflection writer's data and checks, without a model: its training examples come from
human-written questions as SQuAD lays them out, and what it writes is kept only when the
sentence states it. (What the trained writer writes on real text: tests/test_realdocs.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memo_mlx.bench import squad
from memo_mlx.models.runtime import ModelRuntime
from memo_mlx.reflections.writer import (
    ANSWER_SEPARATOR,
    Writer,
    _trimmed,
    answers_with,
    parse_answers,
    parse_question,
    passages_of,
    question_fits,
    salient_spans,
    training_examples,
)

SQUAD = {"articles": [{"title": "Port_Aldren", "paragraphs": [{
    "context": "Port Aldren is a harbour town of 9000 people. Its mayor is Tobias Fenn, who "
               "was elected in 2019. The town festival is held every October.",
    "questions": [
        {"question": "How many people live in Port Aldren?", "answers": ["9000"],
         "answer_start": 32},
        {"question": "Who is the mayor?", "answers": ["Tobias Fenn"], "answer_start": 61},
        {"question": "When was the mayor elected?", "answers": ["2019"], "answer_start": 92},
        {"question": "What spans two sentences?", "answers": ["people. Its mayor"],
         "answer_start": 39},
    ]}]}]}


def test_training_examples_pair_each_sentence_with_its_questions():
    examples = training_examples(SQUAD)
    prompts = [e.question for e in examples]
    # one answers example per sentence asked about, then one per question
    assert len(examples) == 2 + 3
    first = examples[0]
    assert "Title: Port Aldren\nSentence: Port Aldren is a harbour town" in first.question
    assert first.answer == "9000" and "Before:" not in first.question
    second = next(e for e in examples if e.answer == f"Tobias Fenn{ANSWER_SEPARATOR}2019")
    assert "Before: Port Aldren is a harbour town of 9000 people." in second.question
    asked = {e.answer for e in examples if "Answer: " in e.question}
    assert asked == {"How many people live in Port Aldren?", "Who is the mayor?",
                     "When was the mayor elected?"}  # the span over two sentences is left out
    assert all(e.system == "" for e in examples)
    assert not any("What spans" in p for p in prompts)


def test_replies_are_parsed():
    assert parse_answers("Rollo | King Charles III | rollo | Denmark.") == [
        "Rollo", "King Charles III", "Denmark"]
    assert parse_question("Who was the leader?\nA: Rollo") == "Who was the leader?"
    assert parse_question("Rollo was the leader.") == ""


CURIE = "Title\nMarie Curie won the Nobel Prize in Chemistry in 1911. She died on 4 July 1934."


@pytest.mark.parametrize("question, answer, kept", [
    ("Who won the Nobel Prize in Chemistry in 1911?", "Marie Curie", True),
    ("In what year did Marie Curie win the Nobel Prize in Chemistry?", "1911", True),
    ("When did Marie Curie receive the Nobel Prize in Chemistry?", "1911", True),  # restates
    ("What did she win in 1911?", "Nobel Prize", False),  # names no one
    ("When was Marie Curie diagnosed with leukaemia?", "4 July 1934", False),  # two claims
    ("What award did Marie Curie get in 1911?", "Nobel Prize in Chemistry", True),  # one word
    ("Who was the first woman to win the Nobel Prize in Chemistry?", "Marie Curie", False),
    ("Who won the Nobel Prize in Physics in 1911?", "Marie Curie", False),  # another name
    ("Who won the Nobel Prize in Chemistry in 1912?", "Marie Curie", False),  # another number
    ("Who won the Nobel Prize in Chemistry in 1911?", "Nobel Prize", False),  # gives it away
    ("Where did Marie Curie win the Nobel Prize?", "1911", False),  # a year is no place
    ("When did Marie Curie win the Nobel Prize?", "Chemistry", False),  # nor a time
])
def test_a_question_is_kept_only_when_its_source_says_it(question, answer, kept):
    assert question_fits(question, answer, CURIE) is kept


NORMANS = ("Normans\nThe Normans gave their name to Normandy, a region in France, in the "
           "10th century.")


@pytest.mark.parametrize("question, answer, kept", [
    ("Who gave their name to Normandy?", "Normans", True),  # "their" is the asked-for who
    ("When did the Normans give their name to Normandy?", "10th century", True),  # gave/give
    ("What region did the Normans give their name to?", "Normandy", True),  # "region": asked
    ("What did they give their name to?", "Normandy", False),  # "they": nobody named
    ("What gave its name to Normandy?", "Normans", False),  # "its" of nothing named before
    ("Who gave her name to Normandy?", "Normans", False),  # "her" may be an object: never bound
    ("What region did the Normans merge into and rule?", "Normandy", False),  # not said
])
def test_a_possessive_may_refer_to_what_the_question_names(question, answer, kept):
    assert question_fits(question, answer, NORMANS) is kept


WENDMOOR = "Wendmoor\nEvery April, Wendmoor holds the Ivy Regatta."
BEFORE = "Wendmoor is a market town on the River Tavy, where Odile Fairweather lives."


@pytest.mark.parametrize("question, answer, kept", [
    ("What town is home to the Ivy Regatta?", "Wendmoor", True),  # "town": the sentence before
    ("What is the name of the town?", "Wendmoor", False),  # asks about nothing the source says
    ("When is the Ivy Regatta in Wendmoor?", "Every April", True),
    ("When do people race boats at the Ivy Regatta?", "Every April", False),  # two new words
    ("Where does Odile Fairweather hold the Ivy Regatta?", "Wendmoor", False),  # a name from
    # the sentence before is not this sentence's: it would make a false fact
])
def test_a_question_may_reword_but_not_invent(question, answer, kept):
    assert question_fits(question, answer, WENDMOOR, BEFORE) is kept


def test_a_time_may_be_an_event():
    source = "Bakers\nDuring the Ivy Regatta, bakers sell honey bread in the square."
    assert question_fits("When do bakers sell honey bread?", "During the Ivy Regatta", source)
    assert not question_fits("When do bakers sell honey bread?", "honey bread", source)


def test_round_trip_takes_the_answer_the_reader_gives_first():
    q = "Who was Marie Curie's husband?"
    assert answers_with("Pierre Curie.", q, "Pierre Curie")
    assert not answers_with("Marie Curie's husband Pierre Curie was a physicist.", q,
                            "Henri Becquerel")
    # a reader restating the whole sentence names every span, the asked one first
    sentence = "Marie Curie shared the prize with her husband Pierre Curie and Henri Becquerel."
    assert not answers_with(sentence, q, "Henri Becquerel")
    assert answers_with("In 1891.", "When did Marie Curie move to Paris?", "1891")


def test_spans_are_trimmed_of_what_the_question_says():
    assert _trimmed("1903 Nobel Prize in Physics",
                    "When did Marie Curie win the Nobel Prize in Physics?") == "1903"
    assert _trimmed("Nobel Prize", "What did Marie Curie win?") == "Nobel Prize"


def test_salient_spans_are_numbers_with_units_and_names():
    assert salient_spans("In 1911 Marie Curie won the Nobel Prize in Chemistry.") == [
        "1911", "Marie Curie", "Nobel Prize", "Chemistry"]
    assert salient_spans("The budget for the redesign is 18,000 euros.") == ["18,000 euros"]
    assert salient_spans("The conference runs from 12 to 14 February.") == ["12",
                                                                            "14 February"]


def test_passages_name_the_person_she_stands_for_and_nothing_else():
    text = ("# tidyclip\n\ntidyclip requires Python 3.9 or newer. Install it from PyPI.\n\n"
            "Ada Lovelace wrote it in 2023. She lives in Paris.\n")
    said = passages_of(text, "tidyclip")
    sentences = [p.sentence for p in said]
    assert "Install it from PyPI." in sentences  # "it" is the tool or the language: unsure
    assert "Ada Lovelace lives in Paris." in sentences
    assert said[1].before == "tidyclip requires Python 3.9 or newer."
    assert all(p.title == "tidyclip" for p in said)


def test_questions_greetings_and_quote_marks_are_no_facts():
    text = ("Hi Aisha,\n\nThe hotel is the Hotel Avenida Palace. Can you send me your passport "
            "number by Friday?\n\n> On Mon, 8 Jan 2024, Aisha wrote:\n> My talk is on "
            "13 February at 11:30.\n")
    assert [p.sentence for p in passages_of(text, "Lisbon trip")] == [
        "The hotel is the Hotel Avenida Palace.",
        "On Mon, 8 Jan 2024, Aisha wrote: My talk is on 13 February at 11:30."]


def test_only_the_bundled_model_has_a_writer(tiny_model_env):
    with ModelRuntime() as runtime:
        assert Writer.for_runtime(runtime) is None  # rules, for a model it was not trained on


def test_the_writer_ships_with_its_record():
    from memo_mlx.reflections.writer import BASE_MODEL, writer_dir

    record = json.loads((writer_dir() / "record.json").read_text())
    assert record["base_model"] == BASE_MODEL
    assert record["data"]["file"] == "squad-train-set.json"
    evaluation = json.loads(squad.data_path().read_text())
    # never trained on the evaluation set's articles
    titles = {a["title"].replace("_", " ") for a in evaluation["articles"]}
    assert "Nikola Tesla" in titles and not titles & set(record["data"]["articles"])
    assert (writer_dir() / "adapters.safetensors").stat().st_size > 1_000_000
    assert Path(writer_dir() / "adapter_config.json").is_file()
