"""The questions a memory is taught to decline (`abstain`): names swapped for invented ones
that the memory's documents do not hold, never dates, as many as asked, the same for a seed."""

from __future__ import annotations

import random

from memo_mlx.answering.abstain import abstentions, invented_name
from memo_mlx.scoring import DONT_KNOW

QUESTIONS = [
    "Where was Mara Quill born?",
    "Who designed the Hollow Bridge?",
    "What happened in 1987?",
    "How long is the bridge?",
]
NAMES = ["Mara Quill", "Hollow Bridge", "1987", "Tessaly"]


def test_a_name_in_a_question_is_swapped_for_one_the_memory_does_not_know():
    pairs = abstentions(QUESTIONS, NAMES, count=4, known=lambda name: False, seed="s")
    assert len(pairs) == 2  # the date and the question without a name are left alone
    assert all(answer == DONT_KNOW for _, answer in pairs)
    swapped = {q for q, _ in pairs}
    assert not swapped & set(QUESTIONS)
    assert any(q.startswith("Where was ") and q.endswith(" born?") and "Mara Quill" not in q
               for q in swapped)
    assert any(q.startswith("Who designed the ") and "Hollow Bridge" not in q for q in swapped)


def test_count_and_seed_decide_which_questions_and_names():
    one = abstentions(QUESTIONS, NAMES, count=1, known=lambda name: False, seed="chunk text")
    assert len(one) == 1
    assert one == abstentions(QUESTIONS, NAMES, count=1, known=lambda name: False,
                              seed="chunk text")


def test_a_name_the_memory_knows_is_never_the_swap():
    refused: list[str] = []

    def known(name: str) -> bool:  # the first two names drawn are "in the documents"
        if len(refused) < 2:
            refused.append(name)
            return True
        return False

    (question, _), = abstentions(QUESTIONS[:1], NAMES, count=1, known=known, seed="s")
    assert len(refused) == 2 and not any(name in question for name in refused)


def test_invented_names_have_the_words_of_the_name_they_replace():
    rng = random.Random(0)
    for words in (1, 2, 3):
        name = invented_name(rng, words)
        assert len(name.split()) == words and all(w[0].isupper() for w in name.split())


def test_names_that_are_fragments_months_or_parts_of_words_are_left_alone():
    questions = ["Where is St. Ives?", "What happens in June?", "Who is Ann-Marie Lowe?",
                 "What did Ann say to Ann?"]
    pairs = abstentions(questions, ["St", "June", "Ann"], count=9, known=lambda name: False,
                        seed="s")
    assert len(pairs) == 1
    (question, _), = pairs
    # every mention swapped for the same invented name
    assert question.startswith("What did ") and "Ann" not in question
    assert question.split()[2] == question.split()[-1].rstrip("?")


def test_when_every_draw_is_known_the_next_question_is_tried():
    calls: list[str] = []

    def known(name: str) -> bool:  # every name drawn for the first question is known
        calls.append(name)
        return len(calls) <= 8

    pairs = abstentions(QUESTIONS, NAMES, count=1, known=known, seed="s")
    assert len(pairs) == 1 and len(calls) == 9
