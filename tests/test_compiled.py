"""The compiled per-article modules (setup.py, watcher._compiled): a stale or unwanted extension
is never imported, and the compiled modules give exactly the results of their source."""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import watcher
from watcher import _compiled
from watcher.config import load_config

from .articles import BORDER_PARAGRAPHS, BORDER_TITLE, DRONE_PARAGRAPHS, DRONE_TITLE

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpus"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _package(tmp_path: Path, source: str, digest_of: str | None, library: bool = True) -> Path:
    """A package `fakepkg` whose module `mod` has a source and an "extension" that is not one
    (importing it fails): only an import routed to the source succeeds. ``library``: with the
    library a mypyc module loads."""
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "mod.py").write_text(source, encoding="utf-8")
    (pkg / f"mod{SUFFIX}").write_bytes(b"not a shared object")
    if library:
        (pkg / f"mod__mypyc{SUFFIX}").write_bytes(b"not a shared object")
    (pkg / "plain.py").write_text("VALUE = 'plain'\n", encoding="utf-8")
    if digest_of is not None:
        digest = hashlib.sha256(digest_of.encode()).hexdigest()
        (pkg / "compiled.json").write_text(json.dumps({"mod": digest}), encoding="utf-8")
    return pkg


@pytest.fixture
def isolated_imports() -> Iterator[None]:
    path, meta = list(sys.path), list(sys.meta_path)
    yield
    sys.path[:], sys.meta_path[:] = path, meta
    for name in [n for n in sys.modules if n == "fakepkg" or n.startswith("fakepkg.")]:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("digest_of", "env", "verdict"),
    [
        ("VALUE = 1\n", {}, "compiled"),  # built from this very source
        ("VALUE = 0\n", {}, "source (changed since the build"),  # edited after the build
        (None, {}, "source (no digest"),  # no record of the build
        ("VALUE = 1\n", {"WATCHER_PURE_PYTHON": "1"}, "source (WATCHER_PURE_PYTHON is set)"),
        ("VALUE = 1\n", {"WATCHER_PURE_PYTHON": "0"}, "compiled"),
    ],
)
def test_survey_uses_an_extension_only_when_built_from_the_source(
    tmp_path: Path, digest_of: str | None, env: dict[str, str], verdict: str
) -> None:
    pkg = _package(tmp_path, "VALUE = 1\n", digest_of)
    got = _compiled.survey(pkg, env)
    assert set(got) == {"mod"}  # plain.py has no extension: not listed
    assert got["mod"].startswith(verdict)


def test_survey_uses_no_half_built_module(tmp_path: Path) -> None:
    pkg = _package(tmp_path, "VALUE = 1\n", digest_of="VALUE = 1\n", library=False)
    assert _compiled.survey(pkg, {})["mod"].startswith("source (incomplete build")


def test_a_module_built_from_its_c_version_runs_compiled_only_while_both_sources_are_unchanged(
    tmp_path: Path,
) -> None:
    """(as watcher.storymath: an extension built from mod.c, no library; the digest covers the
    .py and the .c, so an edit of either routes the module to its .py)"""
    pkg = _package(tmp_path, "VALUE = 1\n", digest_of=None, library=False)
    (pkg / "mod.c").write_text("/* C */\n", encoding="utf-8")
    digest = _compiled.source_digest(pkg, "mod")
    assert digest != hashlib.sha256(b"VALUE = 1\n").hexdigest()  # (not the .py's alone)
    (pkg / "compiled.json").write_text(json.dumps({"mod": digest}), encoding="utf-8")
    assert _compiled.survey(pkg, {})["mod"] == "compiled"
    (pkg / "mod.c").write_text("/* C, edited */\n", encoding="utf-8")
    assert _compiled.survey(pkg, {})["mod"].startswith("source (changed since the build")
    (pkg / "mod.c").write_text("/* C */\n", encoding="utf-8")
    (pkg / "mod.py").write_text("VALUE = 2\n", encoding="utf-8")
    assert _compiled.survey(pkg, {})["mod"].startswith("source (changed since the build")


def test_install_again_keeps_one_finder(tmp_path: Path, isolated_imports: None) -> None:
    """(as on a reload of the package)"""
    pkg = _package(tmp_path, "VALUE = 1\n", digest_of=None)
    _compiled.install(pkg, "fakepkg", env={})
    _compiled.install(pkg, "fakepkg", env={})
    assert sum(type(f).__qualname__ == "_FromSource" for f in sys.meta_path) == 1


def test_install_routes_a_stale_extension_to_its_source(
    tmp_path: Path, isolated_imports: None
) -> None:
    pkg = _package(tmp_path, "VALUE = 'from source'\n", digest_of="VALUE = 'old'\n")
    sys.path.insert(0, str(tmp_path))
    verdicts = _compiled.install(pkg, "fakepkg", env={})
    assert verdicts["mod"].startswith("source (changed")
    mod = importlib.import_module("fakepkg.mod")
    assert mod.VALUE == "from source"
    assert mod.__file__ == str(pkg / "mod.py")


def test_without_install_the_broken_extension_would_be_imported(
    tmp_path: Path, isolated_imports: None
) -> None:
    """The control for the test above: Python prefers the extension."""
    _package(tmp_path, "VALUE = 'from source'\n", digest_of=None)
    sys.path.insert(0, str(tmp_path))
    with pytest.raises(ImportError):
        importlib.import_module("fakepkg.mod")


def _texts() -> list[tuple[str, str]]:
    own = [(BORDER_TITLE, "\n".join(BORDER_PARAGRAPHS)), (DRONE_TITLE, "\n".join(DRONE_PARAGRAPHS))]
    # text whose lower-casing depends on context (the Greek final sigma), or grows ("İ")
    own += [("ΣΥΓΚΡΟΥΣΕΙΣ ΣΤΑ ΣΥΝΟΡΑ", "ΟΙ ΣΤΡΑΤΙΩΤΕΣ killed 3 ΠΟΛΙΤΕΣ. ΟΔΟΣ Σ. Armenia"),
            ("", "ΑΣ. killed ΝΕΟΣ’ soldiers ΑΣ—Baku ΑΣ-ian İİ 4 ΧΩΡΑΣ"),
            ("Armenia ΜΑΧΕΣ shelling", "Yerevan ΣΟΦΙΑΣ said 12 were killed and ΑΣ wounded.")]
    corpus: list[tuple[str, str]] = []
    for path in sorted(SHARED.glob("*/*.jsonl")) if SHARED.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            text = row.get("text") or row.get("sentence") or ""
            if isinstance(text, str) and text:
                corpus.append((str(row.get("title") or ""), text))
    rng = random.Random(7)
    mutated = []
    for title, text in rng.sample(corpus, min(len(corpus), 1500)) + own * 50:
        cut = rng.randrange(len(text) + 1)
        mutated.append((title, text[:cut] + rng.choice(["İ", "ß", "’", " not ", "\n", "."]) +
                        text[cut:]))
    return own + corpus + mutated


@pytest.mark.parametrize("name", ["match", "casualties"])
def test_compiled_modules_give_the_results_of_their_source(name: str) -> None:
    if watcher.COMPILED.get(name) != "compiled":
        pytest.skip(f"watcher.{name} runs from source here ({watcher.COMPILED.get(name)!r})")
    compiled = importlib.import_module(f"watcher.{name}")
    assert compiled.__file__ is not None and compiled.__file__.endswith(SUFFIX)
    source = _compiled.load_source(name)
    texts = _texts()
    if name == "casualties":
        for title, text in texts:
            joined = f"{title}\n{text}" if title else text
            assert repr(compiled.extract_casualties(joined)) == repr(
                source.extract_casualties(joined)), joined
    else:
        watch = load_config(ROOT / "config" / "watcher.toml", {}).watch("armenia-azerbaijan")
        cw, sw = compiled.compile_watch(watch), source.compile_watch(watch)
        for title, text in texts:
            assert repr(compiled.score(cw, title, text)) == repr(source.score(sw, title, text)), (
                title, text)
