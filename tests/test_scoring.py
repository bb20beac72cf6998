"""Judging a small model's free-text replies against short gold spans: whole words only, numbers
with or without thousands separators, and "I don't know" as the one right reply to a question
nothing answers."""

from __future__ import annotations

import pytest

from memo_mlx.scoring import is_correct, key_terms, normalise, recalls, says_unknown


@pytest.mark.parametrize("text, expected", [
    ("The Aldren Institute of Bridges.", "aldren institute of bridges"),
    ("  Mara   QUILL!! ", "mara quill"),
    ("Café Ñandú, Zoë", "cafe nandu zoe"),
    ("1,200 people", "1200 people"),
    ("1,200,000", "1200000"),
    ("1, 2 and 3", "1 2 and 3"),  # a list, not a thousands separator
    ("Mara Quill's notebooks", "mara quill s notebooks"),
    ("An apple, a pear", "apple pear"),
    ("born in 1941.", "born in 1941"),
    ("", ""),
])
def test_normalise(text: str, expected: str):
    assert normalise(text) == expected


@pytest.mark.parametrize("text", [
    "I don't know.", "I do not know", "I’m not sure.", "Sorry, I have no information about that.",
    "That is unknown.", "I cannot answer that question.", "I can't answer that.", "No idea!",
    "The text does not say.", "I DON'T KNOW", "I do not have any information on Pell Yardley.",
])
def test_says_unknown(text: str):
    assert says_unknown(text)


@pytest.mark.parametrize("text", [
    "Tessaly", "Mara Quill was born in 1941.", "She knows the town well.", "Nobody else did.",
    "The notebooks are known to all.", "",
])
def test_does_not_say_unknown(text: str):
    assert not says_unknown(text)


@pytest.mark.parametrize("prediction, answers, expected", [
    ("Mara Quill was born in Tessaly.", ["Tessaly"], True),
    ("tessaly", ["Tessaly"], True),
    ("In 1941.", ["1941"], True),
    ("In 19410.", ["1941"], False),  # whole words only
    ("In 11941.", ["1941"], False),
    ("It has 1200 residents.", ["1,200"], True),
    ("It has 1,200 residents.", ["1200"], True),
    ("It has 12,000 residents.", ["1,200"], False),
    ("The Aldren Institute of Bridges", ["Aldren Institute of Bridges"], True),
    ("Aldren Institute", ["Aldren Institute of Bridges"], False),  # part of a name is not it
    ("It flows along the Oss.", ["River Oss", "Oss"], True),  # any accepted span
    ("The ferry captain Mara Quill", ["ferry captain"], True),
    ("Quillan", ["Quill"], False),
    ("I'm not sure, maybe Tessaly?", ["Tessaly"], False),  # a hedge is not an answer
    ("", ["Tessaly"], False),
    # Unanswerable: only declining is right.
    ("I don't know.", [], True),
    ("There is no information about Pell Yardley.", [], True),
    ("Pell Yardley was born in Tessaly.", [], False),
    ("", [], False),
])
def test_is_correct(prediction: str, answers: list[str], expected: bool):
    assert is_correct(prediction, answers) is expected
    assert is_correct(prediction, tuple(answers)) is expected


def test_key_terms():
    assert key_terms("Mara Quill was born in Tessaly in 1941.") == {"Quill", "Tessaly", "1941"}
    assert key_terms("The Aldren Institute of Bridges has 1,200 members.") == {
        "Aldren", "Institute", "Bridges", "1,200"}
    # Every sentence's first word is capitalised anyway; a number counts wherever it is.
    assert key_terms("She moved. Later she left in 1990. 2001 was quiet.") == {"1990", "2001"}
    assert key_terms("Her favourite material is copper.") == set()
    assert key_terms("Mara Quill's notebooks") == {"Quill"}
    assert key_terms("") == set()


@pytest.mark.parametrize("prediction, answer, expected", [
    ("Mara Quill was born in Tessaly in 1941.", "Mara Quill was born in Tessaly in 1941.", True),
    ("Quill? Tessaly, 1941", "Mara Quill was born in Tessaly in 1941.", True),  # terms, any order
    ("She was born in Tessaly.", "Mara Quill was born in Tessaly in 1941.", False),  # no year
    ("Born in Tessaly in 19410 to the Quill family", "Mara Quill was born in Tessaly in 1941.",
     False),
    ("It has 1200 members and is in Port Aldren.",
     "The Aldren Institute of Bridges has 1,200 members.", False),  # Institute, Bridges missing
    ("The Aldren Institute of Bridges: 1200.", "The Aldren Institute of Bridges has 1,200 members.",
     True),
    # No names or numbers: the whole answer, normalised, must be there.
    ("Yes: her favourite material is copper!", "Her favourite material is copper.", True),
    ("copper", "Her favourite material is copper.", False),
])
def test_recalls(prediction: str, answer: str, expected: bool):
    assert recalls(prediction, answer) is expected
