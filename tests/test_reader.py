"""The passage reader's training data: a question with its own paragraph is answered by the
sentence that holds its answer; with the paragraph of its article that shares most of its words
and holds none of its answers, by "I don't know."."""

from __future__ import annotations

from memo_mlx.answering.reader import reader_for, reading_prompt, training_examples
from memo_mlx.models.runtime import ModelRuntime
from memo_mlx.scoring import DONT_KNOW

BRIDGE = ("The Hollow Bridge was designed by Mara Quill. It was finished in 1987. The bridge "
          "crosses the river Esk.")
TOWN = "Port Aldren is a harbour town. The Hollow Bridge is its landmark, and Quill lived there."
FESTIVAL = "The Lantern Night is held every October."
SQUAD = {"articles": [{"title": "Port_Aldren", "paragraphs": [
    {"context": BRIDGE, "questions": [
        {"question": "Who designed the Hollow Bridge?", "answers": ["Mara Quill"],
         "answer_start": BRIDGE.index("Mara Quill")},
        {"question": "When was the bridge finished?", "answers": ["1987"],
         "answer_start": BRIDGE.index("1987")},
    ]},
    {"context": TOWN, "questions": []},
    {"context": FESTIVAL, "questions": [
        {"question": "When is the Lantern Night held?", "answers": ["every October"],
         "answer_start": FESTIVAL.index("every October")},
    ]},
]}]}


def test_each_question_is_read_in_its_own_paragraph_and_in_the_nearest_other():
    examples = training_examples(SQUAD, every=1)
    got = [(e.question, e.answer) for e in examples]
    assert got[:2] == [
        (reading_prompt(BRIDGE, "Who designed the Hollow Bridge?"),
         "The Hollow Bridge was designed by Mara Quill."),
        # The town's paragraph names the bridge too, but not who designed it.
        (reading_prompt(TOWN, "Who designed the Hollow Bridge?"), DONT_KNOW),
    ]
    assert got[2][1] == "It was finished in 1987."
    assert got[4] == (reading_prompt(FESTIVAL, "When is the Lantern Night held?"),
                      "The Lantern Night is held every October.")
    assert all(e.system == "" for e in examples)  # trained, and read, with no system prompt
    # A paragraph that holds the answer is never the one that does not say.
    assert not any(e.answer == DONT_KNOW and "Mara Quill" in e.question for e in examples[:2])


def test_every_second_question_by_default():
    assert len(training_examples(SQUAD)) == 2  # the second question and its decline
    assert len(training_examples(SQUAD, every=1)) == 6


def test_only_the_bundled_model_has_a_reader(tiny_model_env):
    with ModelRuntime() as runtime:
        assert reader_for(runtime) is None  # the tiny test model is not the bundled one
