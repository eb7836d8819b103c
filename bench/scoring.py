"""Scoring + casualty extraction speed: articles/s on one core.

Articles: the English news texts of ../shared/corpus/stories/dev.jsonl cut to about 1 KB (read at
run time; without ../shared, synthetic text built from the shipped watch's own terms). Measures,
in one process: matching alone (the baseline), extraction alone, both on every article, and what
the pipeline does (`assess`: extraction only for articles that alert).

The modules run as installed: compiled by mypyc when the install built them (setup.py), which
the first line says; with --source (the default when they are compiled), the match + extraction
line is measured again in the same process on the modules' pure-Python source, the baseline of
the compiled figures.

Rates are articles per second of CPU time (`time.process_time`: time the process spends on the
core, so other processes on the machine disturb it less than wall-clock time), best of the
rounds (the measurements take turns, round by round); the load average is printed with them.

    .venv/bin/python bench/scoring.py [--rounds 5] [--no-source]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import watcher
from watcher._compiled import load_source
from watcher.assess import assess
from watcher.casualties import extract_casualties
from watcher.config import load_config
from watcher.match import compile_watch, score

ROOT = Path(__file__).resolve().parents[1]
STORIES = ROOT.parent / "shared" / "corpus" / "stories" / "dev.jsonl"


def corpus() -> tuple[list[tuple[str, str]], str]:
    if STORIES.exists():
        out = []
        for line in STORIES.open(encoding="utf-8"):
            row = json.loads(line)
            out.append((row.get("title") or "", (row.get("text") or "")[:1000]))
        return out, f"{STORIES} ({len(out)} articles, text cut to 1 KB)"
    rng = random.Random(1)
    words = ["Armenia", "Azerbaijan", "shelling", "border", "killed", "three", "soldiers",
             "said", "ministry", "talks", "ceasefire", "the", "of", "and", "in", "village"]
    out = [("Synthetic", " ".join(rng.choice(words) for _ in range(160))) for _ in range(2000)]
    return out, "synthetic text (no ../shared)"


def rates(fns: dict[str, Any], items: list[tuple[str, str]], rounds: int) -> dict[str, float]:
    """Articles per CPU-second of each function over ``items``, the best of ``rounds``. The
    functions take turns, round by round: a stall of the machine (seen for seconds at a time on
    these shared machines) then costs one round of each, not every round of one of them."""
    best = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.process_time()
            for title, text in items:
                fn(title, text)
            best[name] = max(best[name], len(items) / (time.process_time() - t))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-source", action="store_true",
                    help="skip the baseline run on the pure-Python source")
    args = ap.parse_args()
    compiled = sorted(n for n, v in watcher.COMPILED.items() if v == "compiled")
    print("modules: " + ", ".join(
        f"{n} {'compiled (mypyc)' if n in compiled else 'from source'}"
        for n in ("match", "casualties")))
    items, what = corpus()
    cw = compile_watch(load_config(ROOT / "config" / "watcher.toml", {}).watch(
        "armenia-azerbaijan"))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"corpus: {what}; watch armenia-azerbaijan; best of {args.rounds} rounds, one core, "
          f"CPU time; load average {load}")
    fns: dict[str, Any] = {
        "base": lambda t, x: score(cw, t, x),
        "ext": lambda t, x: extract_casualties(f"{t}\n{x}"),
        "both": lambda t, x: (score(cw, t, x), extract_casualties(f"{t}\n{x}")),
        "pipe": lambda t, x: assess(cw, t, x),
    }
    differ = -1
    if compiled and not args.no_source:  # the baseline of the compiled figures, in the turns
        sm, sc = load_source("match"), load_source("casualties")
        scw = sm.compile_watch(cw.watch)
        differ = sum(
            repr(sm.score(scw, t, x)) != repr(score(cw, t, x))
            or repr(sc.extract_casualties(f"{t}\n{x}")) != repr(extract_casualties(f"{t}\n{x}"))
            for t, x in items)
        fns["src"] = lambda t, x: (sm.score(scw, t, x), sc.extract_casualties(f"{t}\n{x}"))
    got = rates(fns, items, args.rounds)
    base, ext, both, pipe = got["base"], got["ext"], got["both"], got["pipe"]
    alerting = sum(1 for t, x in items if score(cw, t, x).alerts)
    print(f"match only (baseline):            {base:9.0f} articles/s")
    print(f"casualty extraction only:         {ext:9.0f} articles/s")
    print(f"match + extraction, every article: {both:8.0f} articles/s  "
          f"({both / base:.2f}x baseline)")
    print(f"pipeline assess (extract if alert): {pipe:7.0f} articles/s  ({pipe / base:.2f}x "
          f"baseline; {alerting} of {len(items)} articles alert)")
    if "src" in got:
        src = got["src"]
        print(f"the same on the pure-Python source: {src:7.0f} articles/s  (as installed "
              f"{both / src:.2f}x; results differ on {differ} of {len(items)} articles)")

if __name__ == "__main__":
    main()
