"""A fictional world for the knowledge benchmark: documents no pretrained model can know, and
held-out questions about them that are not the reflections the memory is taught.

The world has people, towns and organisations whose facts cross documents (a person's page
names their birthplace, whose page names its mayor; an organisation's page names its director,
whose page names their birth year), so two-hop questions need two documents. Questions come in
four kinds: paraphrase (one fact, worded unlike the document), multihop (two facts from two
documents), reverse (a description whose answer is a name, unique in the world) and
unanswerable (about names reserved to appear nowhere, or attributes no document states).

Distractor documents describe a second, disjoint world (its own people, towns, organisations,
festivals and rivers), so adding them to a memory cannot change a correct answer.

Every name word is unique and no name word is contained in another, so a gold answer is never a
piece of another plausible answer, and first names alone identify a person (the deriver resolves
"Mara" to "Mara Quill"). Deterministic: the same arguments give the same corpus.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

KINDS = ("paraphrase", "multihop", "reverse", "unanswerable")
# Questions of real-text corpora (`squad`), written by people about a passage.
REAL_KINDS = ("crowd",)

# Name pools ------------------------------------------------------------------------------------
# Invented or uncommon words; `_check_pools` (and a test) keeps them disjoint and unnested.

_FEMALE = (
    "Mara Ines Lysa Wren Nella Odile Fenna Suvi Mirela Yara Calla Ilse Tamsin Orla Brenna "
    "Sabeth Liesl Ysolde Petra Ondine Agathe Sefa Elodie Thea Kesia Junia Verity Isaura Halla "
    "Linnea Zofia Annick Cressida Delphine Greer Ottilie Roswitha Bryony"
).split()
_MALE = (
    "Tobias Oren Caspar Idris Bastian Ravi Alric Teodor Emrys Anselm Corvin Lucan Edvin Jory "
    "Piran Sorrel Aurel Benedek Cyrus Dorian Evander Florian Gideon Ivo Jasper Kasimir Leopold "
    "Marius Niall Osric Quentin Rufus Silas Tycho Ulrich Willem Hector Lorcan"
).split()
_LAST = (
    "Quill Greystock Varga Holloway Sable Dunmore Aske Pelham Corrin Vance Ostrow Thale Brisk "
    "Kettering Lorne Halvard Stroud Penhallow Ashgrove Bellamy Carrow Delacourt Everleigh "
    "Fairweather Garrick Hartwell Iveson Jessop Lindqvist Mudford Nettleford Prowse Quenby "
    "Rookwood Selwyn Tremayne Underhay Verrall Whitlock Yardley Zellner Abernant Blackmore "
    "Cradock Dawlish Elphick Gostelow Hebden Ingold Jephcott Kember Lattimer Mallender Norrish "
    "Oakeshott Pennick Rudge Skerrit Tolland Vosper Wragge Yelland Fothergill Haverley Mortlock "
    "Swithin"
).split()
_TOWNS = (
    "Tessaly", "Grennock", "Saltmere", "Orvane", "Kilbrae", "Dunhaven", "Marrowby", "Brackwater",
    "Cadmoor", "Ferrowick", "Gallowby", "Hollinsey", "Istrow", "Lathmoor", "Nethercombe",
    "Pellowen", "Ravensholt", "Skelwick", "Ulverby", "Varrowdale", "Wendmoor", "Yarrowick",
    "Dravenport", "Fallowmere", "Glenmirren", "Harrowsay", "Inchcorran", "Kestwick", "Lowenby",
    "Norbridge", "Oakhallow", "Porthellin", "Quellby", "Rilmouth", "Tarrowby", "Wyndle",
)
_RIVERS = (
    "Oss Brell Dree Elvy Harl Jarn Merrin Nidra Orle Prenn Quaile Rusk Ulla Vey Wissel Yelm "
    "Amsel Cawl Drune Ferrin Gaddow Irra Kesk Lumm Neave Pawl Sennet Tavy Umber Zale"
).split()
_FESTIVAL_WORDS = (
    "Lantern Kestrel Candle Heron Thistle Cinder Lark Bramble Otter Willow Juniper Hazel Clover "
    "Falcon Amber Beacon Tinder Fennel Sparrow Plover Rowan Saffron Marigold Quince Starling "
    "Tansy Moth Ivy Poppy Magpie"
).split()
_FESTIVAL_HEADS = ("Night", "Fair", "Week", "Feast", "Regatta", "Parade")
_ORG_PREFIXES = (
    "Aldren Corvel Ombray Listra Bramwick Caddow Drummel Eskett Farrant Gastrell Haskin Imbry "
    "Jurmond Kesseth Lanvary Nimbrel Ostley Prentis Ruddock Sollery Trevane Urquell Valdry "
    "Wexcombe Yarnell Zeddon Averill Belcastle Cordray Dunstall Elvander Fennimore Grimsell "
    "Hallwood Ivington Jollant Kittredge Lockhart Merriden Nantwell Orrington Pemberly Rotherway "
    "Stavely Thornwell Uppingham Wainfleet Winterbourne"
).split()
# (name head, what the page calls it, what it does: no new names)
_ORG_KINDS = (
    ("Institute of Bridges", "institute", "trains young engineers to design stone bridges"),
    ("Clock Foundry", "foundry", "casts bells and clock parts for town halls"),
    ("Lantern Works", "workshop", "makes brass lanterns for ships and harbours"),
    ("Weather Society", "society", "records rainfall and wind every day"),
    ("Glass Guild", "guild", "teaches glassblowing to apprentices"),
    ("Ferry Company", "company", "runs small ferries along the coast"),
    ("Map Archive", "archive", "keeps old sea charts and hand-drawn maps"),
    ("Rope Cooperative", "cooperative", "spins rope from hemp for fishing boats"),
    ("Seed Library", "library", "lends seeds of old vegetables to local gardeners"),
    ("Observatory Trust", "trust", "runs a small telescope on a hill above the town"),
)
_CRAFTS = ("engineer", "cartographer", "glassblower", "clockmaker", "ferry captain",
           "archivist", "astronomer", "bookbinder", "beekeeper", "weaver", "stonemason",
           "luthier", "botanist", "surveyor")
_MATERIALS = ("copper", "slate", "cedar", "granite", "pewter", "walnut", "linen", "bronze",
              "flint", "birch", "marble", "wool")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_TOWN_TYPES = ("harbour town", "market town", "mill town", "hill town", "river town")
_FESTIVAL_SCENES = ("lanterns are hung along the river", "boats race between the bridges",
                    "the streets are filled with music", "bakers sell honey bread in the square",
                    "children carry paper birds through the town")


def _name_words() -> list[str]:
    return [*_FEMALE, *_MALE, *_LAST, *(w for t in _TOWNS for w in t.split()), *_RIVERS,
            *_FESTIVAL_WORDS, *_ORG_PREFIXES]


def _check_pools() -> None:
    """No name word repeats or sits inside another, so no answer is a piece of another."""
    words = [w.lower() for w in _name_words()]
    for i, a in enumerate(words):
        for b in words[i + 1:]:
            if a in b or b in a:
                raise AssertionError(f"name pools overlap: {a!r} and {b!r}")


_check_pools()


# The world -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str  # "q001"...
    kind: str  # one of KINDS
    question: str
    answers: tuple[str, ...]  # accepted gold spans; () for unanswerable
    documents: tuple[str, ...]  # files holding the facts, first hop first; () for unanswerable
    context: str = ""  # real-text corpora: the passage that answers it (the "gold" condition)


@dataclass(frozen=True)
class Corpus:
    documents: dict[str, str]  # file name -> text
    distractors: dict[str, str]  # a disjoint world, for the robustness condition
    questions: list[Question]


@dataclass
class _Person:
    name: str
    she: bool
    craft: str
    born_in: str
    born: int
    org: str
    founded: int
    material: str
    moved_to: str = ""
    moved: int = 0

    @property
    def first(self) -> str:
        return self.name.split()[0]

    @property
    def pron(self) -> str:
        return "She" if self.she else "He"

    @property
    def poss(self) -> str:
        return "Her" if self.she else "His"


@dataclass
class _Town:
    name: str
    kind: str
    population: int
    river: str
    festival: str
    month: str
    material: str
    mayor: str = ""


@dataclass
class _Org:
    name: str
    noun: str
    activity: str
    founder: str
    founded: int
    town: str
    members: int
    director: str = ""


@dataclass
class _World:
    people: dict[str, _Person] = field(default_factory=dict)
    towns: dict[str, _Town] = field(default_factory=dict)  # only towns with a page
    orgs: dict[str, _Org] = field(default_factory=dict)  # every organisation, paged or not
    org_pages: list[str] = field(default_factory=list)


class _Pool:
    """Draws names without replacement, each pool shuffled once by the corpus's rng."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lists = {key: rng.sample(values, len(values)) for key, values in (
            ("female", _FEMALE), ("male", _MALE), ("last", _LAST), ("town", _TOWNS),
            ("river", _RIVERS), ("festival", _FESTIVAL_WORDS), ("org", _ORG_PREFIXES))}

    def draw(self, key: str) -> str:
        if not self.lists[key]:
            raise ValueError(f"too many documents for the fictional name pools (out of {key} "
                             f"names); use fewer documents or distractors")
        return self.lists[key].pop()

    def person(self) -> tuple[str, bool]:
        she = self.rng.random() < 0.5
        if not self.lists["female" if she else "male"]:
            she = not she  # one list ran out before the other
        return f"{self.draw('female' if she else 'male')} {self.draw('last')}", she

    def festival(self) -> str:
        return f"{self.draw('festival')} {self.rng.choice(_FESTIVAL_HEADS)}"

    def org(self) -> tuple[str, str, str]:
        head, noun, activity = self.rng.choice(_ORG_KINDS)
        return f"{self.draw('org')} {head}", noun, activity


def _split(documents: int) -> tuple[int, int, int]:
    """(people, towns, organisations) pages: half people, a quarter each of the others."""
    towns = orgs = documents // 4
    return documents - towns - orgs, towns, orgs


def _world(pool: _Pool, rng: random.Random, documents: int) -> _World:
    n_people, n_towns, n_orgs = _split(documents)
    w = _World()
    for _ in range(n_towns):
        name = pool.draw("town")
        w.towns[name] = _Town(name, rng.choice(_TOWN_TYPES), rng.randint(12, 480) * 100,
                              pool.draw("river"), pool.festival(), rng.choice(_MONTHS),
                              rng.choice(_MATERIALS))
    # A world too small for two town pages still needs two towns to be born in and move to.
    places = list(w.towns) + [pool.draw("town") for _ in range(2 - len(w.towns))]
    for _ in range(n_people):
        name, she = pool.person()
        born = rng.randint(1938, 1982)
        founded = min(born + rng.randint(24, 40), 2016)
        org, noun, activity = pool.org()
        w.people[name] = _Person(name, she, rng.choice(_CRAFTS), rng.choice(places), born, org,
                                 founded, rng.choice(_MATERIALS))
        w.orgs[org] = _Org(org, noun, activity, name, founded, rng.choice(places),
                           rng.randint(4, 90) * 10)
    people = list(w.people.values())
    mayors: set[str] = set()
    for town in w.towns.values():  # distinct mayors, who moved to their town from elsewhere
        free = [p for p in people if p.name not in mayors]
        p = rng.choice([p for p in free if p.born_in != town.name] or free)
        town.mayor = p.name
        mayors.add(p.name)
        if p.born_in != town.name:
            p.moved_to = town.name
    for p in people:
        if not p.moved_to:
            p.moved_to = rng.choice([t for t in places if t != p.born_in])
        p.moved = min(p.founded + rng.randint(3, 14), 2023)
    w.org_pages = rng.sample(sorted(w.orgs), n_orgs)
    directors: set[str] = set()
    for name in w.org_pages:  # distinct directors, never the founder
        paged = w.orgs[name]
        cands = [p.name for p in people if p.name != paged.founder]
        paged.director = rng.choice([c for c in cands if c not in directors] or cands)
        directors.add(paged.director)
    return w


def _file(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".md"


def _a(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


# Pages -----------------------------------------------------------------------------------------


def _person_page(p: _Person, rng: random.Random) -> str:
    intro = rng.choice((
        f"{p.name} is {_a(p.craft)} born in {p.born_in} in {p.born}.",
        f"{p.name}, {_a(p.craft)}, was born in {p.born_in} in {p.born}.",
        f"{p.name} was born in {p.born} in {p.born_in}. {p.pron} works as {_a(p.craft)}.",
    ))
    found = rng.choice((
        f"{p.pron} founded the {p.org} in {p.founded}.",
        f"In {p.founded}, {p.first} founded the {p.org}.",
        f"{p.first} founded the {p.org} in {p.founded}.",
    ))
    years = p.founded - p.born - 18
    before = rng.choice((
        f"{p.first} spent {years} years learning the trade as a young {p.craft}.",
        f"{p.first} had worked for {years} years as {_a(p.craft)} before founding it.",
    ))
    material = rng.choice((f"{p.poss} favourite material is {p.material}.",
                           f"{p.first}'s favourite material is {p.material}."))
    move = rng.choice((f"In {p.moved}, {p.first} moved to {p.moved_to}.",
                       f"{p.pron} moved to {p.moved_to} in {p.moved}."))
    keep = rng.choice((f"The {p.org} still keeps {p.poss.lower()} first notebooks.",
                       f"{p.pron} still writes letters to old friends every week."))
    heading = rng.choice(("Later life", "Travels", "Life and work"))
    return (f"# {p.name}\n\n{intro} {found} {before} {material}\n\n"
            f"## {heading}\n\n{move} {keep}\n")


def _town_page(t: _Town, rng: random.Random) -> str:
    pop = f"{t.population:,}"
    intro = rng.choice((
        f"{t.name} is {_a(t.kind)} of {pop} people on the River {t.river}.",
        f"{t.name} is {_a(t.kind)} on the River {t.river}. It has a population of {pop}.",
    ))
    mayor = rng.choice((f"Its mayor is {t.mayor}.", f"The mayor of {t.name} is {t.mayor}.",
                        f"{t.mayor} is the mayor of {t.name}."))
    houses = rng.choice((f"Most of the houses in {t.name} are built of {t.material}.",
                         f"A stone bridge crosses the River {t.river} near the market square."))
    festival = rng.choice((
        f"The town festival, the {t.festival}, is held every {t.month}.",
        f"Every {t.month}, {t.name} holds the {t.festival}.",
        f"The {t.festival} takes place in {t.name} every {t.month}.",
    ))
    scene = f"During the {t.festival}, {rng.choice(_FESTIVAL_SCENES)}."
    visitors = rng.choice((f"Visitors come from all over the coast to see the {t.festival}.",
                           f"Many people in {t.name} spend weeks getting ready for the "
                           "festival."))
    return (f"# {t.name}\n\n{intro} {mayor} {houses}\n\n"
            f"## Festival\n\n{festival} {scene} {visitors}\n")


def _org_page(o: _Org, rng: random.Random) -> str:
    found = rng.choice((f"The {o.name} was founded by {o.founder} in {o.founded}.",
                        f"{o.founder} founded the {o.name} in {o.founded}.",
                        f"The {o.name} was founded in {o.founded} by {o.founder}."))
    where = rng.choice((f"It is based in {o.town} and has {o.members} members.",
                        f"The {o.noun} is based in {o.town}. It has {o.members} members."))
    director = rng.choice((f"Its current director is {o.director}.",
                           f"{o.director} is the current director of the {o.name}."))
    meets = rng.choice((f"The members meet every week in {o.town}.",
                        f"The {o.noun} publishes a short report every year."))
    join = rng.choice((f"Anyone who lives in {o.town} may join the {o.noun}.",
                       "New members are welcome every spring."))
    return (f"# {o.name}\n\n{found} {where} {director}\n\n"
            f"## Work\n\nThe {o.noun} {o.activity}. {meets} {join}\n")


def _pages(w: _World, rng: random.Random) -> dict[str, str]:
    pages = {_file(p.name): _person_page(p, rng) for p in w.people.values()}
    pages |= {_file(t.name): _town_page(t, rng) for t in w.towns.values()}
    pages |= {_file(name): _org_page(w.orgs[name], rng) for name in w.org_pages}
    return pages


# Questions -------------------------------------------------------------------------------------

_Draft = tuple[str, str, tuple[str, ...], tuple[str, ...]]  # kind, question, answers, documents
_Groups = dict[str, list[_Draft]]


def _add(groups: _Groups, key: str, kind: str, question: str, answers: tuple[str, ...],
         documents: tuple[str, ...]) -> None:
    groups.setdefault(f"{kind}:{key}", []).append((kind, question, answers, documents))


def _town_answers(t: _Town) -> dict[str, tuple[str, ...]]:
    return {"mayor": (t.mayor,), "river": (f"River {t.river}", t.river),
            "festival": (t.festival,), "population": (f"{t.population:,}",),
            "month": (t.month,)}


def _paraphrase(w: _World, g: _Groups) -> None:
    org_docs = {o: (_file(o),) if o in w.org_pages else () for o in w.orgs}
    for p in w.people.values():
        mine, n = (_file(p.name),), p.name
        both = mine + org_docs[p.org]
        for key, q, a, d in (
            ("born_in", f"What is the birthplace of {n}?", p.born_in, mine),
            ("born_in2", f"Which town is {n} originally from?", p.born_in, mine),
            ("born", f"In which year did {n} come into the world?", str(p.born), mine),
            ("born2", f"What is {n}'s year of birth?", str(p.born), mine),
            ("craft", f"What kind of work does {n} do?", p.craft, mine),
            ("craft2", f"What does {n} do for a living?", p.craft, mine),
            ("org", f"Which organisation did {n} establish?", p.org, both),
            ("org2", f"What organisation was set up by {n}?", p.org, both),
            ("founded", f"In what year did {n} establish the {p.org}?", str(p.founded), both),
            ("material", f"Which material does {n} like best?", p.material, mine),
            ("material2", f"What is {n}'s preferred material?", p.material, mine),
            ("moved_to", f"To which town did {n} relocate?", p.moved_to, mine),
            ("moved", f"In what year did {n} relocate to {p.moved_to}?", str(p.moved), mine),
        ):
            _add(g, key, "paraphrase", q, (a,), d)
    for t in w.towns.values():
        mine, n, ans = (_file(t.name),), t.name, _town_answers(t)
        for key, q, a in (
            ("population", f"How many residents does {n} have?", "population"),
            ("population2", f"How many inhabitants live in {n}?", "population"),
            ("mayor", f"Who serves as mayor of {n}?", "mayor"),
            ("mayor2", f"Who is {n}'s mayor?", "mayor"),
            ("festival", f"What is the name of the festival held in {n}?", "festival"),
            ("festival2", f"Which festival does {n} celebrate each year?", "festival"),
            ("month", f"In what month is the {t.festival} celebrated in {n}?", "month"),
            ("month2", f"During which month does {n} hold the {t.festival}?", "month"),
            ("river", f"Which river flows through {n}?", "river"),
            ("river2", f"On which river does {n} stand?", "river"),
        ):
            _add(g, key, "paraphrase", q, ans[a], mine)
    for o in w.orgs.values():
        n, both = o.name, org_docs[o.name] + (_file(o.founder),)
        _add(g, "founder", "paraphrase", f"Who set up the {n}?", (o.founder,), both)
        _add(g, "founder2", "paraphrase", f"Who is the founder of the {n}?", (o.founder,), both)
        _add(g, "org_founded", "paraphrase", f"When was the {n} established?", (str(o.founded),),
             both)
        if n not in w.org_pages:
            continue
        mine = (_file(n),)
        for key, q, a in (
            ("org_town", f"In which town is the {n} located?", o.town),
            ("org_town2", f"Where does the {n} have its home?", o.town),
            ("members", f"How many people belong to the {n}?", str(o.members)),
            ("members2", f"What is the membership of the {n}?", str(o.members)),
            ("director", f"Who currently leads the {n}?", o.director),
            ("director2", f"Who heads the {n} today?", o.director),
        ):
            _add(g, key, "paraphrase", q, (a,), mine)


def _multihop(w: _World, g: _Groups) -> None:
    """Two documents, first hop first; the bridge is the second document's subject."""
    def town_hops(key: str, via: str, town: str, start: str, skip: str = "") -> None:
        if town not in w.towns:
            return
        t, docs = w.towns[town], (start, _file(town))
        ans = _town_answers(t)
        for hop, q in (("mayor", f"Who is the mayor of {via}?"),
                       ("river", f"Which river flows through {via}?"),
                       ("festival", f"What festival is held in {via}?"),
                       ("population", f"How large is the population of {via}?")):
            if ans[hop][0] != skip:
                _add(g, f"{key}_{hop}", "multihop", q, ans[hop], docs)

    def person_hops(key: str, via: str, p: _Person, start: str) -> None:
        docs = (start, _file(p.name))
        for hop, q, a in (("born", f"In what year was {via} born?", str(p.born)),
                          ("born_in", f"In which town was {via} born?", p.born_in),
                          ("craft", f"What is the profession of {via}?", p.craft),
                          ("org", f"Which organisation was set up by {via}?", p.org)):
            _add(g, f"{key}_{hop}", "multihop", q, (a,), docs)

    for p in w.people.values():
        start = _file(p.name)
        town_hops("birth", f"the town where {p.name} was born", p.born_in, start)
        town_hops("move", f"the town {p.name} moved to", p.moved_to, start, skip=p.name)
    for name in w.org_pages:
        o, start = w.orgs[name], _file(name)
        town_hops("org_town", f"the town where the {name} is based", o.town, start)
        person_hops("director", f"the director of the {name}", w.people[o.director], start)
        founder = w.people[o.founder]  # the founder's page names the organisation too
        _add(g, "founder_born_in", "multihop", f"In which town was the founder of the {name} "
             "born?", (founder.born_in,), (start, _file(founder.name)))
    for t in w.towns.values():
        start = _file(t.name)
        person_hops("mayor", f"the mayor of {t.name}", w.people[t.mayor], start)


def _reverse(w: _World, everyone: list[_World], g: _Groups) -> None:
    """Only descriptions that fit one name across both worlds, distractors included."""
    people = [p for x in everyone for p in x.people.values()]
    orgs = [o for x in everyone for o in x.orgs.values()]
    towns = [t for x in everyone for t in x.towns.values()]
    born_at = Counter((p.born_in, p.born) for p in people)
    moved_at = Counter((p.moved_to, p.moved) for p in people)
    likes = Counter((p.craft, p.material) for p in people)
    founded = Counter(o.founded for o in orgs)
    members = Counter(o.members for o in orgs)
    placed = Counter((o.noun, o.town) for o in orgs)
    population = Counter(t.population for t in towns)
    org_docs = {o: (_file(o),) if o in w.org_pages else () for o in w.orgs}
    for p in w.people.values():
        mine = (_file(p.name),)
        o = w.orgs[p.org]
        _add(g, "founder", "reverse", f"Which {p.craft} set up the {p.org}?", (p.name,),
             mine + org_docs[p.org])
        if born_at[p.born_in, p.born] == 1:
            _add(g, "born_at", "reverse", f"Who was born in {p.born_in} in {p.born}?",
                 (p.name,), mine)
        if moved_at[p.moved_to, p.moved] == 1:
            _add(g, "moved_at", "reverse", f"Who settled in {p.moved_to} in {p.moved}?",
                 (p.name,), mine)
        if likes[p.craft, p.material] == 1:
            _add(g, "likes", "reverse", f"Which {p.craft} favours {p.material} above every "
                 "other material?", (p.name,), mine)
        if founded[o.founded] == 1:
            _add(g, "org_year", "reverse", f"Which organisation was founded in {o.founded}?",
                 (o.name,), mine + org_docs[o.name])
    for name in w.org_pages:
        o, mine = w.orgs[name], (_file(name),)
        if sum(x.director == o.director for x in w.orgs.values()) == 1:
            _add(g, "director", "reverse", f"Which organisation has {o.director} as its "
                 "director?", (name,), mine)
        if members[o.members] == 1:
            _add(g, "members", "reverse", f"Which organisation counts {o.members} members?",
                 (name,), mine)
        if placed[o.noun, o.town] == 1:
            _add(g, "placed", "reverse", f"Which {o.noun} has its home in {o.town}?", (name,), mine)
    for t in w.towns.values():
        mine = (_file(t.name),)
        _add(g, "festival", "reverse", f"Which town is home to the {t.festival}?", (t.name,), mine)
        _add(g, "river", "reverse", f"Which town lies on the River {t.river}?", (t.name,), mine)
        _add(g, "mayor", "reverse", f"Of which town is {t.mayor} the mayor?", (t.name,), mine)
        if population[t.population] == 1:
            _add(g, "population", "reverse", f"Which town has {t.population:,} residents?",
                 (t.name,), mine)


@dataclass
class _Reserved:
    """Names drawn from the pools but written into no document, for unanswerable questions."""

    people: list[str]
    towns: list[str]
    orgs: list[str]
    festivals: list[str]
    rivers: list[str]


def _reserve(pool: _Pool, n: int) -> _Reserved:
    return _Reserved([pool.person()[0] for _ in range(n)], [pool.draw("town") for _ in range(n)],
                     [pool.org()[0] for _ in range(n)], [pool.festival() for _ in range(n)],
                     [pool.draw("river") for _ in range(n)])


def _unanswerable(w: _World, reserved: _Reserved, g: _Groups) -> None:
    """Names reserved to appear nowhere, and attributes no document states."""
    for name in reserved.people:
        for key, q in (("born_in", f"What is the birthplace of {name}?"),
                       ("born", f"In which year was {name} born?"),
                       ("org", f"Which organisation did {name} found?"),
                       ("craft", f"What is {name}'s profession?"),
                       ("moved_to", f"To which town did {name} move?")):
            _add(g, f"person_{key}", "unanswerable", q, (), ())
    for town in reserved.towns:
        for key, q in (("population", f"How many residents does {town} have?"),
                       ("mayor", f"Who is the mayor of {town}?"),
                       ("river", f"Which river flows through {town}?"),
                       ("festival", f"What festival is held in {town}?")):
            _add(g, f"town_{key}", "unanswerable", q, (), ())
    for org in reserved.orgs:
        for key, q in (("founder", f"Who founded the {org}?"),
                       ("town", f"In which town is the {org} based?"),
                       ("members", f"How many members does the {org} have?"),
                       ("director", f"Who is the director of the {org}?")):
            _add(g, f"org_{key}", "unanswerable", q, (), ())
    for festival in reserved.festivals:
        _add(g, "festival", "unanswerable", f"Which town holds the {festival}?", (), ())
    for river in reserved.rivers:
        _add(g, "river", "unanswerable", f"Which town lies on the River {river}?", (), ())
    for p in w.people.values():
        _add(g, "died", "unanswerable", f"In what year did {p.name} die?", (), ())
        _add(g, "sister", "unanswerable", f"What is the name of {p.name}'s sister?", (), ())
    for t in w.towns.values():
        _add(g, "motto", "unanswerable", f"What is the motto of {t.name}?", (), ())
    for o in w.orgs.values():
        _add(g, "budget", "unanswerable", f"What is the yearly budget of the {o.name}?", (), ())
        if o.name not in w.org_pages:
            _add(g, "unpaged_members", "unanswerable",
                 f"How many members does the {o.name} have?", (), ())
            _add(g, "unpaged_director", "unanswerable", f"Who is the director of the {o.name}?",
                 (), ())


def _pick(groups: _Groups, n: int, rng: random.Random) -> list[_Draft]:
    """Round robin over the templates, so every phrasing is asked, none dominates."""
    pools = [rng.sample(groups[k], len(groups[k])) for k in sorted(groups)]
    picked: list[_Draft] = []
    while len(picked) < n and any(pools):
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop())
    return picked


# Public API ------------------------------------------------------------------------------------


def make_corpus(documents: int = 36, seed: int = 7, distractors: int = 12) -> Corpus:
    """A world of about `documents` pages (half people, a quarter towns, a quarter
    organisations), a disjoint world of `distractors` pages, and 5 questions per document:
    15% unanswerable, the rest split evenly between paraphrase, multihop and reverse. The name
    pools allow up to about 64 documents with 12 distractors; beyond, a ValueError."""
    if documents < 4:
        raise ValueError(f"documents must be at least 4, not {documents}")
    if distractors < 0:
        raise ValueError(f"distractors must be 0 or more, not {distractors}")
    rng = random.Random(seed)
    pool = _Pool(rng)
    # Drawn in this order so the documents do not depend on the number of distractors (the
    # questions may: a reverse question is only asked when no distractor fits it too).
    world = _world(pool, rng, documents)
    pages = _pages(world, rng)
    reserved = _reserve(pool, max(2, documents // 9))
    extra = _world(pool, rng, distractors) if distractors else _World()
    extra_pages = _pages(extra, rng)
    groups: dict[str, _Groups] = {kind: {} for kind in KINDS}
    _paraphrase(world, groups["paraphrase"])
    _multihop(world, groups["multihop"])
    _reverse(world, [world, extra], groups["reverse"])
    _unanswerable(world, reserved, groups["unanswerable"])

    total = 5 * documents
    unanswerable = round(0.15 * total)
    answerable = total - unanswerable
    want = {"paraphrase": answerable - 2 * (answerable // 3), "multihop": answerable // 3,
            "reverse": answerable // 3, "unanswerable": unanswerable}
    ordered = {kind: _pick(groups[kind], sum(map(len, groups[kind].values())), rng)
               for kind in KINDS}  # every candidate, in the order they would be asked
    counts = {kind: min(want[kind], len(ordered[kind])) for kind in KINDS}
    short = answerable - sum(counts[k] for k in KINDS[:3])
    for kind in KINDS[:3]:  # a kind short of candidates leaves its share to the others
        more = min(short, len(ordered[kind]) - counts[kind])
        counts[kind] += more
        short -= more
    drafts = [d for kind in KINDS for d in ordered[kind][:counts[kind]]]
    rng.shuffle(drafts)
    width = max(3, len(str(len(drafts))))
    questions = [Question(f"q{i:0{width}d}", *d) for i, d in enumerate(drafts, 1)]
    return Corpus(pages, extra_pages, questions)


def write_corpus(corpus: Corpus, out: Path) -> None:
    """out/docs/*.md, out/distractors/*.md and out/questions.jsonl. Stale .md files from an
    earlier corpus in those two folders are removed, so a folder is exactly one corpus."""
    for folder, pages in (("docs", corpus.documents), ("distractors", corpus.distractors)):
        where = out / folder
        where.mkdir(parents=True, exist_ok=True)
        for stale in sorted(where.glob("*.md")):
            if stale.name not in pages:
                stale.unlink()
        for name, text in pages.items():
            (where / name).write_text(text, encoding="utf-8")
    lines = [json.dumps(asdict(q), ensure_ascii=False) for q in corpus.questions]
    (out / "questions.jsonl").write_text("".join(f"{line}\n" for line in lines),
                                         encoding="utf-8")


def read_questions(path: Path) -> list[Question]:
    """The questions of a questions.jsonl; a bad line is a ValueError naming file and line."""
    questions = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                questions.append(_question(json.loads(line)))
            except (ValueError, TypeError) as e:  # JSONDecodeError is a ValueError
                raise ValueError(f"{path}:{number}: {e}") from None
    return questions


def _question(row: object) -> Question:
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    fields = ("id", "kind", "question", "answers", "documents")
    missing = [f for f in fields if f not in row]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for f in ("id", "kind", "question"):
        if not isinstance(row[f], str) or not row[f].strip():
            raise ValueError(f"{f} must be a non-empty string")
    for f in ("answers", "documents"):
        if not isinstance(row[f], list) or not all(isinstance(x, str) for x in row[f]):
            raise ValueError(f"{f} must be a list of strings")
    if row["kind"] not in KINDS + REAL_KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS + REAL_KINDS)}, "
                         f"not {row['kind']!r}")
    if not isinstance(row.get("context", ""), str):
        raise ValueError("context must be a string")
    if (row["kind"] == "unanswerable") != (not row["answers"]):
        raise ValueError("answers must be empty exactly when the kind is unanswerable")
    return Question(row["id"], row["kind"], row["question"], tuple(row["answers"]),
                    tuple(row["documents"]), row.get("context", ""))
