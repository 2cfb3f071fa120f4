#!/usr/bin/env python3
"""Consistency checks for the blind2 set. Run from anywhere: python3 check.py

Exits non-zero if any check fails. Independent of the Rust validators.
"""
import json
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = {"good", "unfaithful", "off_topic", "near_duplicate", "pii", "copied"}
FIELDS = {"id", "question", "answer", "context", "document", "label", "note"}

PII_PATTERNS = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "uk_phone": re.compile(r"(?:\+44\s?|\b0)(?:7\d{3}\s?\d{6}|20\s?\d{4}\s?\d{4}|1\d{2,3}\s?\d{3}\s?\d{4})\b"),
    "us_phone": re.compile(r"(?:\+?1[\s-]?)?\(?\b\d{3}\)?[\s-]\d{3}[\s-]\d{4}\b"),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "card": re.compile(r"\b\d(?:[ -]?\d){12,18}\b"),
    "ni_number": re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b"),
    "street_address": re.compile(r"\b\d{1,4}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|Road|Lane|Avenue|Close|Drive|Way|Crescent|Terrace|Gardens|Place)\b"),
    "uk_postcode": re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[A-Z]{2}\b"),
    "iban": re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,7}(?:\s?[A-Z0-9]{1,3})?\b"),
    "date_of_birth": re.compile(r"\b(?:[Bb]orn|DOB|[Dd]ate of birth)[:,]?\s+(?:on\s+)?\d{1,2}(?:[/.-]\d{1,2}[/.-]|\s+[A-Z][a-z]+\s+)\d{4}\b"),
}
COPIED_MIN = 15  # a copied answer shares at least this many consecutive words with its context
COPIED_MAX = 35  # and at most this many
OTHER_MAX = 11   # every other answer shares at most this many
DOC_WORDS = (900, 1200)
PARA_WORDS = (75, 110)
PARA_COUNT = (10, 13)
CARD_CANDIDATE = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")

errors = []


def fail(msg):
    errors.append(msg)


def norm_ws(s):
    return re.sub(r"\s+", " ", s).strip()


def words(s):
    out = []
    for tok in s.lower().split():
        tok = re.sub(r"[^\w]", "", tok)
        if tok:
            out.append(tok)
    return out


def longest_common_run(a, b):
    best = 0
    prev = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        cur = [0] * (len(b) + 1)
        ai = a[i - 1]
        for j in range(1, len(b) + 1):
            if ai == b[j - 1]:
                cur[j] = prev[j - 1] + 1
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def doc_paragraphs(name):
    text = (HERE / name).read_text(encoding="utf-8")
    return [norm_ws(b) for b in re.split(r"\n\s*\n", text) if b.strip()]


def main():
    # documents
    docs = {}
    for name in sorted(p.name for p in HERE.glob("*.md") if p.name != "README.md"):
        blocks = doc_paragraphs(name)
        prose = [b for b in blocks if not b.startswith("#")]
        docs[name] = blocks
        n_words = len((HERE / name).read_text(encoding="utf-8").split())
        lens = [len(b.split()) for b in prose]
        print(f"document {name}: {n_words} words, {len(prose)} paragraphs of {min(lens)}-{max(lens)} words")
        if not DOC_WORDS[0] <= n_words <= DOC_WORDS[1]:
            fail(f"{name}: {n_words} words")
        if min(lens) < PARA_WORDS[0] or max(lens) > PARA_WORDS[1]:
            fail(f"{name}: paragraph lengths {min(lens)}-{max(lens)}")
        if not PARA_COUNT[0] <= len(prose) <= PARA_COUNT[1]:
            fail(f"{name}: {len(prose)} prose paragraphs")
        if not (blocks[0].startswith("# ") and sum(b.startswith("#") for b in blocks) == 1):
            fail(f"{name}: expected exactly one title heading, first")
        doc_text = (HERE / name).read_text(encoding="utf-8")
        doc_hits = [k for k, rx in PII_PATTERNS.items() if rx.search(doc_text)]
        if doc_hits:
            fail(f"{name}: document matches PII pattern(s) {doc_hits}")

    # records
    recs = []
    with open(HERE / "records.jsonl", encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"line {n}: does not parse: {e}")
                continue
            if not isinstance(r, dict):
                fail(f"line {n}: not an object")
                continue
            recs.append(r)
    print(f"records: {len(recs)} lines parsed")

    by_id = {}
    runs = defaultdict(list)
    for n, r in enumerate(recs, 1):
        rid = r.get("id")
        want = f"g{n:04d}"
        if rid != want:
            fail(f"line {n}: id {rid!r}, expected {want}")
        if rid in by_id:
            fail(f"{rid}: duplicate id")
        keys = set(r)
        extra = keys - FIELDS - {"dup_of"}
        missing = FIELDS - keys
        if extra or missing:
            fail(f"{rid}: fields extra={extra} missing={missing}")
        label = r.get("label")
        if label not in LABELS:
            fail(f"{rid}: bad label {label!r}")
        for k in FIELDS:
            if not isinstance(r.get(k), str) or not r.get(k).strip():
                fail(f"{rid}: field {k} empty or not a string")
        if not r["question"].rstrip().endswith("?"):
            fail(f"{rid}: question does not end with ?")
        # context = 1-3 whole consecutive paragraphs of the named document
        doc = r["document"]
        if doc not in docs:
            fail(f"{rid}: unknown document {doc}")
        else:
            cparas = [norm_ws(p) for p in re.split(r"\n\s*\n", r["context"]) if p.strip()]
            blocks = docs[doc]
            if not 1 <= len(cparas) <= 3:
                fail(f"{rid}: context has {len(cparas)} paragraphs")
            try:
                start = blocks.index(cparas[0])
                if blocks[start:start + len(cparas)] != cparas:
                    fail(f"{rid}: context paragraphs not consecutive/verbatim")
                if any(p.startswith("#") for p in cparas):
                    fail(f"{rid}: context includes a heading")
            except ValueError:
                fail(f"{rid}: context paragraph not found verbatim in {doc}")
        # dup_of
        if label == "near_duplicate":
            d = r.get("dup_of")
            orig = by_id.get(d)
            if orig is None:
                fail(f"{rid}: dup_of {d!r} is not an earlier record")
            elif orig["label"] != "good" or orig["document"] != doc:
                fail(f"{rid}: dup_of {d} is not a good record of the same document")
            elif orig["context"] != r["context"]:
                fail(f"{rid}: dup_of {d} has a different context")
        elif "dup_of" in r:
            fail(f"{rid}: dup_of on a {label} record")
        # copied runs
        run = longest_common_run(words(r["answer"]), words(r["context"]))
        runs[label].append(run)
        if label == "copied":
            if not COPIED_MIN <= run <= COPIED_MAX:
                fail(f"{rid}: copied answer shares {run} consecutive words")
        elif run > OTHER_MAX:
            fail(f"{rid}: {label} answer shares {run} consecutive words with its context")
        # pii patterns
        text = r["question"] + " " + r["answer"]
        hits = [k for k, rx in PII_PATTERNS.items() if rx.search(text)]
        if label == "pii" and not hits:
            fail(f"{rid}: pii record matches no PII pattern")
        if label != "pii" and hits:
            fail(f"{rid}: non-pii record matches PII pattern(s) {hits}")
        # Luhn on anything card-shaped
        for m in CARD_CANDIDATE.finditer(PII_PATTERNS["iban"].sub(" ", text)):  # IBAN digits are not cards
            digits = re.sub(r"\D", "", m.group())
            if not luhn_ok(digits):
                fail(f"{rid}: card-like number {m.group()} fails Luhn")
        by_id[rid] = r

    # defective questions must not repeat a good question
    good_q = {norm_ws(r["question"]).lower() for r in recs if r["label"] == "good"}
    for r in recs:
        if r["label"] not in ("good", "near_duplicate") and norm_ws(r["question"]).lower() in good_q:
            fail(f"{r['id']}: defective record repeats a good question")
    qs = Counter(norm_ws(r["question"]).lower() for r in recs)
    for q, c in qs.items():
        if c > 1:
            fail(f"question repeated {c} times: {q}")

    # seeds
    seeds = [json.loads(l) for l in open(HERE / "seeds.jsonl", encoding="utf-8") if l.strip()]
    rec_q = {norm_ws(r["question"]).lower() for r in recs}
    for s in seeds:
        if not all(isinstance(s.get(k), str) and s[k].strip() for k in ("id", "question", "answer")):
            fail(f"seed {s.get('id')}: missing id/question/answer")
        if not s["question"].rstrip().endswith("?"):
            fail(f"seed {s.get('id')}: question does not end with ?")
        if [k for k, rx in PII_PATTERNS.items() if rx.search(s["question"] + " " + s["answer"])]:
            fail(f"seed {s.get('id')}: matches a PII pattern")
        if norm_ws(s["question"]).lower() in rec_q:
            fail(f"seed {s.get('id')}: question also in records.jsonl")
    print(f"seeds: {len(seeds)}")

    # summary
    labels = sorted(LABELS, key=["good", "unfaithful", "off_topic", "near_duplicate", "pii", "copied"].index)
    table = Counter((r["document"], r["label"]) for r in recs)
    print("\ncounts per document and label:")
    print(f"{'document':26}" + "".join(f"{l:>15}" for l in labels) + f"{'total':>8}")
    for doc in sorted(docs):
        row = [table[(doc, l)] for l in labels]
        print(f"{doc:26}" + "".join(f"{v:>15}" for v in row) + f"{sum(row):>8}")
    tot = [sum(table[(d, l)] for d in docs) for l in labels]
    print(f"{'total':26}" + "".join(f"{v:>15}" for v in tot) + f"{sum(tot):>8}")
    print("\nlongest shared run with context (words), min-max per label:")
    for l in labels:
        if runs[l]:
            print(f"  {l:15} {min(runs[l])}-{max(runs[l])}")
    ctx_lens = Counter(len(re.split(r"\n\s*\n", r["context"])) for r in recs)
    print(f"context sizes (paragraphs: records): {dict(sorted(ctx_lens.items()))}")
    print(f"distinct passages: {len({r['context'] for r in recs})}")

    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("\nALL CHECKS PASSED")


if __name__ == "__main__":
    main()
