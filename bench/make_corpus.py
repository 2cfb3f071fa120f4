#!/usr/bin/env python3
"""Write a deterministic benchmark corpus: many short documents of varied prose, so a
2,000-record job spreads over ~250 chunks (about 8 records each) the way a real job does.

    bench/make_corpus.py DIR
"""
import json
import random
import sys
from pathlib import Path

SUBJECTS = ["The river authority", "A regional hospital", "The city council", "An orchard cooperative",
            "The railway company", "A small observatory", "The school district", "A fishing fleet",
            "The water utility", "A textile mill", "The harbour master", "A solar farm",
            "The county library", "A vineyard", "The mountain rescue team", "A bakery chain"]
VERBS = ["recorded", "installed", "replaced", "inspected", "expanded", "repaired", "measured",
         "commissioned", "reorganised", "surveyed", "upgraded", "catalogued", "rebuilt", "tested"]
OBJECTS = ["pumping stations", "greenhouse panels", "signal boxes", "reading rooms", "storage tanks",
           "telescope mirrors", "ferry ramps", "bridge bearings", "cold stores", "wind sensors",
           "loading cranes", "flood gates", "seed banks", "boiler rooms", "ventilation shafts"]
REASONS = ["after heavy storms damaged the old equipment", "because demand rose sharply in winter",
           "to meet a new safety regulation", "following complaints from local residents",
           "when an audit found serious wear", "as part of a ten year maintenance plan",
           "after engineers detected unusual vibration", "to cut energy costs",
           "because spare parts were no longer made", "before the tourist season began"]
DETAILS = ["The work took {n} weeks and cost about {m} thousand euros.",
           "Crews of {n} technicians worked in shifts through {month}.",
           "Engineers found {n} cracked components and replaced {k} of them.",
           "Output rose by {p} percent in the following quarter.",
           "The project finished {n} days ahead of schedule in {month}.",
           "Inspectors returned in {month} and approved {k} of the {n} sites."]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
PLACES = ["Arden", "Belmont", "Corrin", "Dunmore", "Elstow", "Farrow", "Glenby", "Harlow", "Isley",
          "Jarrow", "Kelby", "Lowick", "Marden", "Norwood", "Oakham", "Penrith", "Quarley", "Rydal"]


def paragraph(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(3, 5)):
        s = f"{rng.choice(SUBJECTS)} of {rng.choice(PLACES)} {rng.choice(VERBS)} {rng.randint(2, 90)} " \
            f"{rng.choice(OBJECTS)} {rng.choice(REASONS)}."
        out.append(s)
        d = rng.choice(DETAILS).format(n=rng.randint(2, 60), m=rng.randint(10, 900), k=rng.randint(1, 9),
                                       p=rng.randint(3, 40), month=rng.choice(MONTHS))
        out.append(d)
    return " ".join(out)


def main() -> None:
    out = Path(sys.argv[1])
    (out / "docs").mkdir(parents=True, exist_ok=True)
    rng = random.Random(2026)
    for d in range(50):
        paras = [paragraph(rng) for _ in range(5)]
        (out / "docs" / f"report-{d:02}.md").write_text(f"# Report {d}\n\n" + "\n\n".join(paras) + "\n")
    seeds = []
    for i in range(12):
        p = paragraph(rng).split(". ")
        seeds.append({"id": f"s{i}", "question": f"What happened to the {rng.choice(OBJECTS)}?",
                      "answer": p[0] + "."})
    (out / "seeds.jsonl").write_text("".join(json.dumps(s) + "\n" for s in seeds))


if __name__ == "__main__":
    main()
