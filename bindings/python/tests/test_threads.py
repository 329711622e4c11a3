"""A Matcher shared between threads, batches that release the GIL, and generators that call
back into weir while a batch reads them."""

import json
import threading
import time

import weir

RULES = {
    "even": {"n": [{"numeric": ["=", 0]}], "parity": ["even"]},
    "big": {"n": [{"numeric": [">", 500]}]},
    "tagged": {"tags": [{"prefix": "t"}]},
}


def events(count):
    return [
        {"n": i, "parity": "even" if i % 2 == 0 else "odd", "tags": ["t%d" % i] if i % 3 == 0 else []}
        for i in range(count)
    ]


def test_threads_share_one_matcher():
    m = weir.Matcher(RULES)
    batch = events(1000)
    jsonl = "\n".join(json.dumps(e) for e in batch).encode()
    want = m.match_many(batch)
    results = []
    errors = []

    def work():
        try:
            for _ in range(20):
                results.append(m.match_many(jsonl) == want and m.match_many(batch) == want)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == [True] * 80


def test_rules_change_while_other_threads_match():
    m = weir.Matcher(RULES)
    batch = events(500)
    stop = threading.Event()
    seen = []
    errors = []

    def reader():
        try:
            while not stop.is_set():
                for names in m.match_many(batch):
                    # Every batch sees one consistent set of rules.
                    seen.append(tuple(names))
        except Exception as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for i in range(200):
        m.add(f"r{i}", {"n": [i]})
        if i % 2:
            m.remove(f"r{i - 1}")
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    assert len(m) == 3 + 100
    assert m.matching_rules({"n": 199}) == ["r199"]
    assert any(seen)


def test_generator_calling_back_into_weir():
    m = weir.Matcher(RULES)
    p = weir.Pattern({"n": [{"numeric": ["<", 10]}]})
    fc = weir.FilterCriteria([{"n": [3]}])

    def gen():
        for e in events(40):
            # Matching, batches and even changing the matcher from inside the iteration.
            assert p.matches(e) == (e["n"] < 10)
            assert m.filter([e, e]) in ([], [0, 1])
            assert fc.matches(e) == (e["n"] == 3)
            if e["n"] == 20:
                m.add("late", {"n": [21]})
            yield e

    got = m.match_many(gen())
    assert len(got) == 40
    # The events are read first, then matched with the rules as they are then.
    assert "late" in m and got[21] == ["tagged", "late"]
    assert got[0] == ["even", "tagged"]


def test_batches_release_the_gil():
    m = weir.Matcher({"r": {"a": [1]}})
    # Matches nothing: the result adds no work. Grown until one batch takes long enough
    # for the ticker to tick during it, however fast the machine.
    lines = 100_000
    while True:
        buffer = b'{"a": 2}\n' * lines
        start = time.perf_counter()
        assert m.filter(buffer) == []
        alone = time.perf_counter() - start
        if alone > 0.05:
            break
        lines *= 2
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            time.sleep(0.001)
            ticks.append(time.perf_counter())

    t = threading.Thread(target=ticker)
    t.start()
    time.sleep(0.02)
    start = time.perf_counter()
    assert m.filter(buffer) == []
    end = time.perf_counter()
    stop.set()
    t.join()
    inside = [x for x in ticks if start < x < end]
    # With the GIL held for the batch, the ticker could not run during it at all.
    assert len(inside) >= 5, (alone, end - start, len(inside))
