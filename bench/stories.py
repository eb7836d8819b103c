"""Story grouping benchmark: articles/s assigned with 100,000 articles in the window, and memory.

    .venv/bin/python bench/stories.py                 # every scenario (about 18 minutes)
    .venv/bin/python bench/stories.py --quick         # 10x smaller, a smoke run
    .venv/bin/python bench/stories.py --scenarios window,baseline --json /tmp/stories.json
    .venv/bin/python bench/stories.py --scenarios window --baseline-ref HEAD   # against HEAD
    .venv/bin/python bench/stories.py --scenarios window,features --quick

With --baseline-ref REF, each scenario also runs on src/watcher/stories.py as of git REF, at the
same time (two child processes, one per core, under the same load), and the ratios are printed
(scenarios the baseline cannot run, e.g. snapshot before it existed, are reported as failed).

Synthetic articles (deterministic, seeded): 1-3 KB of text from a Zipf-distributed vocabulary
of 40,000 pseudo-words plus English function words, 80 topics with their own vocabulary, persons
("Firstname Lastname", then "Lastname"), places, ages and counts; stories of 1-20 articles
(P(k) ~ k^-1.3), published within hours of each other, a fifth of them with follow-ups 2-10
days later. Articles arrive in publication order at a rate that keeps `--window-docs` articles
in the 72-hour window. The index is used as the pipeline would: `expire(now)` before every
batch of 100 articles, then `assign` for each.

Scenarios (each in its own child process, so every peak RSS is its own):
  window     default tunables. Fill the window (N articles), then measure the next N/2 with the
             window full, then replay the dev set (../shared/corpus/stories/dev.jsonl, when
             present) at the end of the stream. Reports articles/s (CPU time of expire + assign;
             text generation excluded), peak RSS, and what the index holds; `decisions`, a
             digest of every assignment (story, kind, revised article, similarity to 4 places):
             with --baseline-ref, `same_decisions` says whether both versions decided alike.
  features   the window scenario with each article's story features derived before the clock
             starts (`extract_features`) and passed to `assign`, as the pipeline's parse workers
             provide them: what the story grouping itself costs the pipeline's main process.
  history    memory against history: the same window, streams of 1.5 N, 3 N and 4.5 N
             articles, with the index's default tunables (the pipeline's: stories remembered
             a year, at most `max_remembered` of them). At each point: RSS, the bytes of every
             object the index reaches and of those its remembered summaries reach (`deep_mb`),
             and what it holds (the remembered summaries reach their cap).
  snapshot   StoryIndex.dumps / loads on windows of N/5 and 3N/5 articles (20,000 and 60,000 by
             default): snapshot size, CPU time of dumps and loads (best of 3), against the
             pipeline's rebuild without a snapshot (`restore` of every article in the window).
  baseline   a naive comparator: the same index with candidate retrieval disabled (every
             article in the window is scored), against the index, on windows of 2,000 and
             8,000 articles: articles/s and the ratio.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import importlib.machinery
import importlib.util
import itertools
import json
import marshal
import random
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _load_as(name: str, path: str) -> Any:
    """The module of a .py file or a built extension, as `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _stories_module() -> Any:
    """watcher.stories, or (in a child run with --module-file, the baseline of --baseline-ref)
    the given file loaded in its place (and with --storymath-file, its watcher.storymath)."""
    if "--storymath-file" in sys.argv:
        import watcher

        watcher.storymath = _load_as(  # type: ignore[attr-defined]
            "watcher.storymath", sys.argv[sys.argv.index("--storymath-file") + 1])
    if "--module-file" in sys.argv:
        path = sys.argv[sys.argv.index("--module-file") + 1]
        spec = importlib.util.spec_from_file_location("watcher.stories", path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["watcher.stories"] = module
        spec.loader.exec_module(module)
        return module
    import watcher.stories

    return watcher.stories


_STORIES = _stories_module()
StoryDoc = _STORIES.StoryDoc
StoryIndex = _STORIES.StoryIndex

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "corpus" / "stories" / "dev.jsonl"
WINDOW = timedelta(hours=72)
START = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 100  # articles between expire() calls
RATE_CORRECTION = 1.125  # measured: without it the window holds ~89% of window_docs

FUNCTION_WORDS = [
    "the", "the", "the", "of", "of", "and", "and", "to", "to", "a", "a", "in", "in", "that", "is",
    "was", "for", "on", "with", "as", "by", "at", "from", "his", "her", "it", "he", "she", "they",
    "said", "were", "has", "have", "had", "be", "been", "an", "but", "not", "this", "who", "their",
    "which", "after", "when", "police", "officials", "say", "told", "would", "could", "will",
    "about", "more", "than", "into", "over", "also", "two", "three",
]


def _pseudo_words(rng: random.Random, n: int, min_syll: int, max_syll: int) -> list[str]:
    onsets = [
        "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
        "br", "cr", "dr", "gr", "pr", "tr", "st", "sl", "pl", "ch", "sh", "th",
    ]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "io"]
    codas = ["", "", "n", "r", "s", "l", "m", "t", "nd", "rt", "st"]
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        k = rng.randint(min_syll, max_syll)
        w = "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(k)) + rng.choice(codas)
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _zipf_cum(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(n)))


@dataclass
class _Story:
    sid: int
    topic: int
    place: str
    persons: list[tuple[str, str]]
    numbers: list[str]
    own: list[str]
    size: int
    written: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Synth:
    """A deterministic, time-ordered stream of synthetic articles."""

    def __init__(self, seed: int, window_docs: int) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.general = _pseudo_words(rng, 40_000, 1, 3)
        self.general_cum = _zipf_cum(len(self.general), 1.05)
        pool = _pseudo_words(rng, 3_200, 2, 3)
        self.topics = [pool[i * 40 : (i + 1) * 40] for i in range(80)]
        self.rare = _pseudo_words(rng, 60_000, 3, 4)
        names = [w.capitalize() for w in _pseudo_words(rng, 9_000, 2, 3)]
        self.first, self.last = names[:800], names[800:]
        self.places = [w.capitalize() for w in _pseudo_words(rng, 3_000, 2, 3)]
        self.place_cum = _zipf_cum(len(self.places), 1.0)
        self.sizes = list(range(1, 21))
        self.size_weights = [k**-1.3 for k in self.sizes]
        mean_size = sum(k * w for k, w in zip(self.sizes, self.size_weights, strict=True)) / sum(
            self.size_weights
        )
        # seconds between articles; follow-ups scheduled days later arrive outside the window
        # of their story's start, so the rate is raised to keep `window_docs` in the window
        self.article_gap = WINDOW.total_seconds() / (window_docs * RATE_CORRECTION)
        self.story_gap = self.article_gap * mean_size
        self.seq = itertools.count()

    def _general(self, k: int) -> list[str]:
        return self.rng.choices(self.general, cum_weights=self.general_cum, k=k)

    def _story(self, sid: int) -> _Story:
        rng = self.rng
        place = rng.choices(self.places, cum_weights=self.place_cum, k=1)[0]
        persons = [
            (rng.choice(self.first), rng.choice(self.last)) for _ in range(rng.randint(1, 3))
        ]
        numbers = [str(rng.randint(2, 80)), str(rng.randint(1, 12))]
        size = rng.choices(self.sizes, weights=self.size_weights, k=1)[0]
        return _Story(sid, rng.randrange(len(self.topics)), place, persons, numbers,
                      rng.sample(self.rare, 4), size)

    def _sentence(self, st: _Story, first_mention: set[str]) -> str:
        rng = self.rng
        words = self._general(rng.randint(6, 12))
        words += rng.choices(FUNCTION_WORDS, k=rng.randint(4, 8))
        words += rng.sample(self.topics[st.topic], rng.randint(1, 3))
        if rng.random() < 0.5:
            words.append(rng.choice(st.own))
        if rng.random() < 0.3:
            words.append(rng.choice(st.numbers))
        rng.shuffle(words)
        if rng.random() < 0.6:
            first, last = rng.choice(st.persons)
            name = last if last in first_mention else f"{first} {last}"
            first_mention.add(last)
            words.insert(rng.randrange(1, len(words)), name)
        if rng.random() < 0.4:
            words.insert(rng.randrange(1, len(words)), f"in {st.place}")
        text = " ".join(words)
        return text[0].upper() + text[1:] + rng.choice([".", ".", ".", ",  officials said."])

    def article(self, st: _Story, when: datetime) -> StoryDoc:
        rng = self.rng
        st.written += 1
        mention: set[str] = set()
        title_words = rng.sample(self.topics[st.topic], 2) + self._general(2)
        last = st.persons[0][1]
        title = f"{last} {' '.join(title_words)} in {st.place}".capitalize()
        title = title.replace(last.lower(), last, 1).replace(st.place.lower(), st.place)
        paragraphs = []
        for _ in range(rng.randint(4, 9)):
            sentences = [self._sentence(st, mention) for _ in range(rng.randint(1, 3))]
            paragraphs.append(" ".join(sentences))
        n = next(self.seq)
        return StoryDoc(
            id=f"syn-{n}",
            title=title,
            text="\n".join(paragraphs),
            published=when,
            source=f"site{rng.randrange(300)}.example",
            canonical_url=f"https://site{rng.randrange(300)}.example/{st.sid}/{n}",
        )

    def stream(self, n: int) -> Iterator[StoryDoc]:
        """`n` articles in publication order."""
        rng = self.rng
        pending: list[tuple[float, int, _Story]] = []
        import heapq

        t_story = 0.0
        sid = 0
        produced = 0
        while produced < n:
            if pending and pending[0][0] <= t_story:
                t, _, st = heapq.heappop(pending)
                produced += 1
                yield self.article(st, START + timedelta(seconds=t))
                continue
            st = self._story(sid)
            sid += 1
            for k in range(st.size):
                if k == 0:
                    offset = 0.0
                elif rng.random() < 0.2:
                    offset = rng.uniform(2, 10) * 86400.0  # a follow-up days later
                else:
                    offset = rng.expovariate(1 / (10 * 3600.0))
                heapq.heappush(pending, (t_story + offset, next(self.seq), st))
            t_story += rng.expovariate(1 / self.story_gap)


# ---


def rss_mb() -> float:
    """Current resident set size (Linux /proc; peak RSS elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    except (OSError, ValueError, IndexError):
        return peak_mb()


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def contents(index: StoryIndex) -> dict[str, int]:
    return {"articles": len(index), "stories": index.story_count,
            "remembered": index.remembered_count}


class Runner:
    """Feeds an index as the pipeline does. With `features`, each article's story features are
    derived before the clock starts and passed to `assign`, as the pipeline's parse workers
    provide them (the index then only weighs, looks up and decides)."""

    def __init__(self, index: StoryIndex, features: bool = False) -> None:
        self.index = index
        self.features = features
        self.cpu = 0.0
        self.count = 0
        self.kinds: dict[str, int] = {}
        # every decision (story, kind, revised article, similarity to 4 places), to compare runs
        self.decisions = hashlib.sha1()

    def feed(self, docs: Iterator[StoryDoc], n: int) -> float:
        """Assign `n` articles; CPU seconds spent in expire + assign."""
        spent = 0.0
        batch = 0
        tunables = self.index.tunables
        for doc in itertools.islice(docs, n):
            features = (_STORIES.extract_features(doc.title, doc.text, tunables)
                        if self.features else None)
            t0 = time.process_time()
            if batch == 0 and doc.published is not None:
                self.index.expire(doc.published)
            a = self.index.assign(doc) if features is None else self.index.assign(doc, features)
            spent += time.process_time() - t0
            self.kinds[a.kind] = self.kinds.get(a.kind, 0) + 1
            self.decisions.update(f"{doc.id} {a.story_id} {a.kind} {a.duplicate_of} "
                                  f"{round(a.similarity, 4)}\n".encode())
            batch = (batch + 1) % BATCH
        self.cpu += spent
        self.count += n
        return spent


def scenario_window(n: int, seed: int, features: bool = False) -> dict[str, Any]:
    synth = Synth(seed, n)
    docs = synth.stream(int(n * 1.5) + 10)
    runner = Runner(StoryIndex(WINDOW), features)
    fill = runner.feed(docs, n)
    out: dict[str, Any] = {"window_docs": n, "fill_articles_per_s": n / fill,
                           "rss_after_fill_mb": rss_mb(), "after_fill": contents(runner.index)}
    measured = runner.feed(docs, n // 2)
    out["full_window_articles_per_s"] = (n // 2) / measured
    out["rss_after_measure_mb"] = rss_mb()
    out["after_measure"] = contents(runner.index)
    out["kinds"] = runner.kinds
    if DEV.exists():
        last = START + timedelta(seconds=synth.article_gap * runner.count)
        dev = []
        for i, line in enumerate(DEV.read_text(encoding="utf-8").splitlines()):
            row = json.loads(line)
            dev.append(StoryDoc(f"dev-{row['id']}", row["title"] or "", row["text"] or "",
                                last + timedelta(seconds=i), row["source"] or ""))
        spent = runner.feed(iter(dev), len(dev))
        out["dev_replay_articles"] = len(dev)
        out["dev_replay_articles_per_s"] = len(dev) / spent
    out["peak_rss_mb"] = peak_mb()
    out["kb_per_article"] = round(out["rss_after_measure_mb"] * 1024 / len(runner.index), 2)
    out["decisions"] = f"{runner.count} articles, sha1 {runner.decisions.hexdigest()[:16]}"
    return out


def scenario_features(n: int, seed: int) -> dict[str, Any]:
    """The window scenario with the story features derived outside the measured time."""
    return scenario_window(n, seed, features=True)


def deep_mb(*roots: Any) -> float:
    """Bytes (MB) of every object reachable from `roots` (each counted once; classes, modules
    and functions left out): what those structures hold, whatever the allocator keeps."""
    seen: set[int] = set()
    todo = list(roots)
    total = 0
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        todo.extend(gc.get_referents(obj))
    return total / 2**20


def _held(index: StoryIndex) -> dict[str, float]:
    """The index's own memory, and the part beyond its window (remembered story summaries)."""
    beyond = (index._remembered, index._summary_postings, index._memory_heap)
    return {"index_mb": round(deep_mb(index), 1), "remembered_mb": round(deep_mb(*beyond), 1)}


def scenario_history(n: int, seed: int) -> dict[str, Any]:
    synth = Synth(seed, n)
    docs = synth.stream(int(4.5 * n) + 10)
    runner = Runner(StoryIndex(WINDOW))
    out: dict[str, Any] = {"window_docs": n,
                           "max_remembered": runner.index.tunables.max_remembered}
    for k, label in ((1.5, "at_1x"), (3, "at_2x"), (4.5, "at_3x")):
        runner.feed(docs, int(1.5 * n))
        gc.collect()
        out[label] = {"history": int(k * n), "rss_mb": rss_mb(), **_held(runner.index),
                      **contents(runner.index)}
    out["peak_rss_mb"] = peak_mb()
    out["articles_per_s"] = runner.count / runner.cpu
    return out


class ScanAllIndex(StoryIndex):
    """The naive comparator: no candidate retrieval, every article in the window is scored."""

    def _candidates(self, terms: Any, weights: Any) -> Any:
        return list(self._by_serial.values())


def scenario_baseline(n: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for window_docs in (n // 50, n // 12):
        row: dict[str, Any] = {}
        for name, cls in (("index", StoryIndex), ("scan_all", ScanAllIndex)):
            synth = Synth(seed, window_docs)
            docs = synth.stream(window_docs + 400)
            runner = Runner(cls(WINDOW, max_candidates=10**9) if cls is ScanAllIndex
                            else cls(WINDOW))
            runner.feed(docs, window_docs)  # fill
            spent = runner.feed(docs, 400)
            row[name] = 400 / spent
        row["ratio"] = row["index"] / row["scan_all"]
        out[str(window_docs)] = row
    return out


def _best_cpu(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def _decoded(blob: bytes) -> Any:
    """A snapshot's fields: format 2 (records), or format 1 (one marshal payload) of an older
    stories.py run as the baseline."""
    read = getattr(_STORIES, "_read_snapshot", None)
    return read([blob]) if read is not None else marshal.loads(blob[10:])


def scenario_snapshot(n: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for window_docs in (n // 5, 3 * n // 5):
        synth = Synth(seed, window_docs)
        docs = list(synth.stream(int(window_docs * 1.2)))
        index = StoryIndex(WINDOW)
        kept: dict[str, tuple[StoryDoc, str, str | None]] = {}
        for i, doc in enumerate(docs):
            if i % BATCH == 0 and doc.published is not None:
                index.expire(doc.published)
            a = index.assign(doc)
            kept[doc.id] = (doc, a.story_id, a.duplicate_of)
        live = index.doc_ids()
        dumps_s, blob = _best_cpu(index.dumps)
        loads_s, loaded = _best_cpu(functools.partial(StoryIndex.loads, blob, WINDOW))
        # the same state (compared decoded: marshal's byte output depends on reference counts)
        assert _decoded(loaded.dumps()) == _decoded(blob), "state lost"
        # the pipeline without a snapshot: restore every article of the window, in order
        t0 = time.process_time()
        rebuilt = StoryIndex(WINDOW)
        for doc_id, (doc, story_id, duplicate_of) in kept.items():
            if doc_id in live:
                rebuilt.restore(doc, story_id, duplicate_of)
        rebuild_s = time.process_time() - t0
        del loaded, rebuilt
        save_mb, load_mb = _snapshot_memory(index, blob)
        out[str(window_docs)] = {
            "articles": len(index), "stories": index.story_count,
            "remembered": index.remembered_count, "snapshot_bytes": len(blob),
            "bytes_per_article": round(len(blob) / max(1, len(index))),
            "dumps_s": round(dumps_s, 4), "loads_s": round(loads_s, 4),
            "rebuild_by_restore_s": round(rebuild_s, 3),
            "rebuild_over_loads": round(rebuild_s / loads_s, 1),
            # memory (Python allocations, tracemalloc) the store's way: parts taken one at a
            # time as they are written; read from 4 MB parts (the parts themselves not counted)
            "save_in_parts_peak_mb": save_mb,
            "load_in_parts_transient_mb": load_mb,
        }
    return out


def _snapshot_memory(index: Any, blob: bytes) -> tuple[float, float]:
    """(peak MB allocated while the parts of a snapshot are made and each dropped once taken;
    peak MB allocated while it is read from 4 MB parts, beyond what the loaded index keeps).
    An older stories.py without `load_parts` reads the parts joined (the join not counted)."""
    import tracemalloc

    def peak(fn: Any) -> tuple[float, Any]:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        try:
            result = fn()
            now, top = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return (top - base) / 2**20, ((now - base) / 2**20, result)

    save_mb, _ = peak(lambda: sum(map(len, index.dump_parts())))
    parts = [blob[i:i + (4 << 20)] for i in range(0, len(blob), 4 << 20)]
    load_parts = getattr(StoryIndex, "load_parts", None)
    if load_parts is not None:
        load_peak, (kept, _) = peak(lambda: load_parts(iter(parts), WINDOW))
    else:
        joined = b"".join(parts)
        load_peak, (kept, _) = peak(lambda: StoryIndex.loads(joined, WINDOW))
    return round(save_mb, 1), round(load_peak - kept, 1)


SCENARIOS = {"window": scenario_window, "features": scenario_features,
             "history": scenario_history, "snapshot": scenario_snapshot,
             "baseline": scenario_baseline}


def _ratios(current: dict[str, Any], base: dict[str, Any]) -> dict[str, float]:
    """current / baseline of the numeric figures both report (articles/s, MB)."""
    out: dict[str, float] = {}
    for key, value in current.items():
        other = base.get(key)
        if (isinstance(value, int | float) and isinstance(other, int | float) and other
                and (key.endswith("_per_s") or key.endswith("_mb"))):
            out[key] = round(value / other, 3)
    return out


def _baseline_storymath(ref: str, into: Path) -> Path | None:
    """REF's storymath.py, to be run from source by the baseline, when REF has one that is not
    the one compiled here (None: the baseline uses this install's, compiled or not)."""
    from watcher import _compiled

    for name in ("storymath.py", "storymath.c"):
        proc = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:src/watcher/{name}"],
                              capture_output=True, check=False)
        if proc.returncode != 0:
            if name == "storymath.py":
                print(f"baseline {ref}: no storymath.py (its stories.py has the loops inline)")
                return None
            continue
        (into / name).write_bytes(proc.stdout)
    built = _compiled._digests(_compiled.PACKAGE_DIR).get("storymath")
    if built is not None and _compiled.source_digest(into, "storymath") == built:
        verdict = _compiled.survey().get("storymath")
        print(f"baseline {ref}: storymath as installed here ({verdict})")
        return None
    if (into / "storymath.c").is_file() and _compiled.survey().get("storymath") == "compiled":
        # compiled as setup.py compiles it, as this install's is
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        target = into / f"storymath{suffix}"
        cc = (sysconfig.get_config_var("CC") or "cc").split()
        proc = subprocess.run([*cc, "-O2", "-ffp-contract=off", "-shared", "-fPIC",
                               f"-I{sysconfig.get_paths()['include']}", str(into / "storymath.c"),
                               "-o", str(target)], capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            print(f"baseline {ref}: its storymath.c, compiled")
            return target
        print(f"baseline {ref}: its storymath.c did not compile ({proc.stderr.strip()[-200:]})")
    print(f"baseline {ref}: its storymath.py, from source")
    return into / "storymath.py"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--window-docs", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="window of 10,000 articles")
    ap.add_argument("--scenarios", default="window,features,history,snapshot,baseline")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline-ref", metavar="REF",
                    help="also run each scenario on src/watcher/stories.py of this git ref")
    ap.add_argument("--child", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    ap.add_argument("--module-file", help=argparse.SUPPRESS)
    ap.add_argument("--storymath-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = 10_000 if args.quick else args.window_docs
    if args.child:
        print(json.dumps(SCENARIOS[args.child](n, args.seed)))
        return 0
    baseline: Path | None = None
    baseline_args: list[str] = []
    if args.baseline_ref:
        proc = subprocess.run(["git", "-C", str(ROOT), "show",
                               f"{args.baseline_ref}:src/watcher/stories.py"],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            ap.error(f"--baseline-ref {args.baseline_ref}: {proc.stderr.strip()}")
        baseline = Path(tempfile.mkdtemp()) / "stories_baseline.py"
        baseline.write_text(proc.stdout, encoding="utf-8")
        storymath = _baseline_storymath(args.baseline_ref, baseline.parent)
        if storymath is not None:
            baseline_args += ["--storymath-file", str(storymath)]
    results: dict[str, Any] = {"window_docs": n, "python": sys.version.split()[0]}
    for name in args.scenarios.split(","):
        if name not in SCENARIOS:
            ap.error(f"unknown scenario {name!r}")
        t0 = time.time()
        cmd = [sys.executable, __file__, "--child", name, "--window-docs", str(n),
               "--seed", str(args.seed)]
        runs = {"current": subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True)}
        if baseline is not None:
            runs["baseline"] = subprocess.Popen([*cmd, "--module-file", str(baseline),
                                                 *baseline_args],
                                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                text=True)
        outputs = {key: p.communicate() for key, p in runs.items()}
        if runs["current"].returncode != 0:
            print(outputs["current"][1], file=sys.stderr)
            return 1
        results[name] = json.loads(outputs["current"][0])
        results[name]["wall_s"] = round(time.time() - t0, 1)
        print(f"== {name} ({results[name]['wall_s']} s)")
        print(json.dumps(results[name], indent=2))
        if "baseline" in runs:
            if runs["baseline"].returncode != 0:
                tail = outputs["baseline"][1].strip().splitlines()[-1:]
                results[f"{name}_baseline"] = {"failed": " ".join(tail)}
            else:
                base = json.loads(outputs["baseline"][0])
                results[f"{name}_baseline"] = base
                results[f"{name}_ratios"] = _ratios(results[name], base)
                if "decisions" in base:
                    results[f"{name}_ratios"]["same_decisions"] = (
                        base["decisions"] == results[name]["decisions"])
            print(f"== {name} at {args.baseline_ref} (run at the same time)")
            print(json.dumps(results[f"{name}_baseline"], indent=2))
            if f"{name}_ratios" in results:
                print(f"== {name}: current / baseline")
                print(json.dumps(results[f"{name}_ratios"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
