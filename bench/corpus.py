"""A fictional folder: documents about people, places and organisations no model can know.

Run: `.venv/bin/python bench/corpus.py OUT_DIR [--documents N] [--seed S]`.

Facts cross documents (a person's page names the town they were born in and the organisation
they founded; the town's page names its mayor), so cross-document reflections have something
to find. Deterministic for a seed. Used by the teaching benchmarks.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

FIRST = ("Mara Tobias Ines Oren Lysa Caspar Wren Idris Nella Bastian Odile Fenna Ravi Suvi "
         "Alric Mirela Teodor Yara Emrys Calla").split()
LAST = ("Quill Fenn Varga Holt Marr Sable Dunmore Aske Pell Corrin Vance Ostrow Thale Brisk "
        "Kettering Lorne Halvard Ember Stroud Penhallow").split()
TOWNS = ("Port Aldren", "Tessaly", "Vell Harbour", "Grennock", "Saltmere", "Orvane",
         "Kilbrae", "Dunholt", "Marrowby", "Esk Vale")
ORG_KINDS = ("Institute of Bridges", "Lantern Works", "Weather Society", "Glass Guild",
             "Ferry Company", "Map Archive", "Clock Foundry", "Rope Cooperative")
THINGS = ("copper", "slate", "amber", "cedar", "granite", "indigo", "pewter", "walnut")
CRAFTS = ("engineer", "cartographer", "glassblower", "clockmaker", "ferry captain",
          "archivist", "astronomer", "bridge builder")


@dataclass
class Person:
    name: str
    craft: str
    born_in: str
    born: int
    founded: str
    founded_in: int
    material: str


def people_and_places(n: int, rng: random.Random) -> tuple[list[Person], dict[str, dict]]:
    names = rng.sample([f"{f} {last}" for f in FIRST for last in LAST], n)
    orgs = rng.sample([f"{town.split()[-1]} {kind}" for town in TOWNS for kind in ORG_KINDS], n)
    people = []
    for name, org in zip(names, orgs, strict=True):
        born = rng.randint(1890, 1975)
        people.append(Person(name, rng.choice(CRAFTS), rng.choice(TOWNS), born, org,
                             born + rng.randint(24, 45), rng.choice(THINGS)))
    towns = {}
    for town in TOWNS:
        mayor = rng.choice(people)
        towns[town] = {"population": rng.randint(8, 90) * 100, "mayor": mayor.name,
                       "festival": f"the {rng.choice(THINGS).title()} Night",
                       "month": rng.choice(("March", "June", "September", "October"))}
    return people, towns


def person_page(p: Person, towns: dict[str, dict]) -> str:
    first = p.name.split()[0]
    return (
        f"# {p.name}\n\n"
        f"{p.name} was a {p.craft} born in {p.born_in} in {p.born}. "
        f"{first} founded the {p.founded} in {p.founded_in}. "
        f"Her favourite material was {p.material}.\n\n"
        f"## Later life\n\n"
        f"In {p.founded_in + 10}, {p.name} moved to {rng_town(p, towns)}. "
        f"The {p.founded} still keeps {p.name}'s notebooks.\n"
    )


def rng_town(p: Person, towns: dict[str, dict]) -> str:
    others = sorted(t for t in towns if t != p.born_in)
    return others[(p.born + p.founded_in) % len(others)]


def town_page(town: str, facts: dict) -> str:
    return (
        f"# {town}\n\n"
        f"{town} is a harbour town of {facts['population']} people. "
        f"Its mayor is {facts['mayor']}. "
        f"The town festival, {facts['festival']}, is held every {facts['month']}.\n"
    )


def write_corpus(out: Path, documents: int = 12, seed: int = 11) -> list[Path]:
    rng = random.Random(seed)
    people, towns = people_and_places(max(1, documents - len(TOWNS) // 2), rng)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for p in people:
        path = out / f"{p.name.lower().replace(' ', '-')}.md"
        path.write_text(person_page(p, towns))
        files.append(path)
    for town in sorted(towns)[: documents - len(people)]:
        path = out / f"{town.lower().replace(' ', '-')}.txt"
        path.write_text(town_page(town, towns[town]))
        files.append(path)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--documents", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    files = write_corpus(args.out, args.documents, args.seed)
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} documents, {size / 1024:.1f} KB in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
