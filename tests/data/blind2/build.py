#!/usr/bin/env python3
"""Builds records.jsonl and seeds.jsonl from records_src.py (hand-written records) for the blind2 set.

Contexts are filled in mechanically from the documents; the order is shuffled with a
fixed seed, and any near-duplicate that lands before its original is moved to a
random position after it. Run from this directory: python3 build.py
"""
import json
import random
import re
from pathlib import Path

from records_src import DOCS, R, SEEDS

HERE = Path(__file__).resolve().parent
SHUFFLE_SEED = 20261122


def paragraphs(doc):
    text = (HERE / doc).read_text(encoding="utf-8")
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return [b for b in blocks if not b.startswith("#")]  # prose paragraphs only


def main():
    paras = {code: paragraphs(name) for code, name in DOCS.items()}
    recs = []
    for key, doc, idx, label, q, a, note, dup in R:
        ps = paras[doc]
        assert idx == list(range(idx[0], idx[0] + len(idx))) and 1 <= len(idx) <= 3, key
        ctx = "\n\n".join(ps[i - 1] for i in idx)
        recs.append({"key": key, "question": q, "answer": a, "context": ctx,
                     "document": DOCS[doc], "label": label, "note": note, "dup": dup})
    keys = [r["key"] for r in recs]
    assert len(set(keys)) == len(keys)

    rng = random.Random(SHUFFLE_SEED)
    rng.shuffle(recs)
    # move each near-duplicate after its original (random later slot)
    for nd in [r for r in recs if r["dup"]]:
        pos_nd = recs.index(nd)
        pos_orig = next(i for i, r in enumerate(recs) if r["key"] == nd["dup"])
        if pos_nd < pos_orig:
            recs.pop(pos_nd)
            pos_orig -= 1
            new = rng.randint(pos_orig + 1, len(recs))
            recs.insert(new, nd)

    # enforce: every near-duplicate comes after a good original of the same passage
    pos = {r["key"]: i for i, r in enumerate(recs)}
    for r in recs:
        if r["dup"]:
            orig = recs[pos[r["dup"]]]
            assert r["label"] == "near_duplicate", r["key"]
            assert orig["label"] == "good", r["key"]
            assert orig["document"] == r["document"] and orig["context"] == r["context"], r["key"]
            assert pos[r["dup"]] < pos[r["key"]], r["key"]
        else:
            assert r["label"] != "near_duplicate", r["key"]

    ids = {r["key"]: f"g{i:04d}" for i, r in enumerate(recs, 1)}
    with open(HERE / "records.jsonl", "w", encoding="utf-8") as f:
        for r in recs:
            out = {"id": ids[r["key"]], "question": r["question"], "answer": r["answer"],
                   "context": r["context"], "document": r["document"], "label": r["label"],
                   "note": r["note"]}
            if r["dup"]:
                out["dup_of"] = ids[r["dup"]]
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    with open(HERE / "seeds.jsonl", "w", encoding="utf-8") as f:
        for s in SEEDS:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    print(f"wrote {len(recs)} records and {len(SEEDS)} seeds")


if __name__ == "__main__":
    main()
