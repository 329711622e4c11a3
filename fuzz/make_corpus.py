#!/usr/bin/env python3
"""Fills fuzz/corpus/<target>/ with seed inputs (the corpus directory is not committed).

parse_pattern gets every pattern of the conformance cases (tests/data/conformance), and
match_event every event; both also get the hand-written seeds in fuzz/seeds/<target>/. (fuzz/seeds/structured_match
holds rendered inputs for the regression test, not generator bytes: it is not copied.)
Run from anywhere: python3 fuzz/make_corpus.py
"""
import hashlib
import json
import pathlib
import shutil

FUZZ = pathlib.Path(__file__).resolve().parent
CONFORMANCE = FUZZ.parent / "tests" / "data" / "conformance"


def text_of(case, raw, parsed):
    if isinstance(case.get(raw), str):
        return case[raw]
    return json.dumps(case[parsed], ensure_ascii=False)


def write(target, text):
    out = FUZZ / "corpus" / target
    out.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)


def main():
    counts = {"parse_pattern": 0, "match_event": 0}
    eb = json.loads((CONFORMANCE / "eventbridge-aws.json").read_text())
    for case in eb["cases"]:
        write("parse_pattern", text_of(case, "pattern_raw", "pattern"))
        write("match_event", text_of(case, "event_raw", "event"))
        counts["parse_pattern"] += 1
        counts["match_event"] += 1
    lam = json.loads((CONFORMANCE / "lambda-esm-aws.json").read_text())
    for case in lam["cases"]:
        if "pattern" in case:
            write("parse_pattern", json.dumps(case["pattern"], ensure_ascii=False))
            counts["parse_pattern"] += 1
    for target in ("parse_pattern", "match_event"):
        seeds = FUZZ / "seeds" / target
        if seeds.is_dir():
            dest = FUZZ / "corpus" / target
            dest.mkdir(parents=True, exist_ok=True)
            for f in sorted(seeds.iterdir()):
                shutil.copy(f, dest / f.name)
                counts[target] += 1
    for target, n in counts.items():
        print(f"{target}: {n} seeds")


if __name__ == "__main__":
    main()
