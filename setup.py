"""Build hook: compile the per-article modules (pyproject.toml holds the rest).

`watcher.match` and `watcher.casualties` run on every article of every poll; compiled to C by
mypyc (shipped with mypy, a build requirement) they run about 1.25x faster with the same results
(`tests/test_compiled.py`). `watcher.storymath`, the story index's inner loops, has a C
version written by hand (`storymath.c`, the same results: `tests/test_storymath.py`). A module
stays pure Python, and watcher runs the same, when:

* `WATCHER_PURE_PYTHON=1` is set at install time (or at run time: see `watcher._compiled`);
* it fails to compile (no C compiler, no Python headers, a type error mypyc refuses) or mypyc
  is missing (a build without isolation): its extensions are optional, and pip shows why only
  with `-v`.

After the build, `compiled.json` (in the package being built, and in `src/watcher` for an
editable install) holds the digest of each source compiled completely in that build (for
storymath, of its `.py` and `.c` together: `watcher._compiled.source_digest`); the
outputs of a module whose compile failed are removed, as are those of every earlier build
before it starts. `watcher._compiled` uses an extension only when its source still has that
digest: an edited source never runs a stale or partial build.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = ROOT / "src" / "watcher"
MYPYC = ("match", "casualties")  # modules of src/watcher/ compiled by mypyc
HANDWRITTEN = ("storymath",)  # modules of src/watcher/ with a C version (name.c) beside
COMPILED = MYPYC + HANDWRITTEN
MANIFEST = "compiled.json"
# the commands that build extensions (egg_info, run for the build's requirements, does not)
BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "editable_wheel", "install", "develop"}
SOURCE_DIGESTS: dict[str, str] = {}  # the digest of each source handed to the compiler


def _compiled_module() -> Any:
    """src/watcher/_compiled.py (stdlib only), without importing the package being built."""
    spec = importlib.util.spec_from_file_location("_watcher_compiled", PACKAGE_DIR / "_compiled.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pure() -> bool:
    return os.environ.get("WATCHER_PURE_PYTHON", "") not in ("", "0")


def _extension_files(directory: Path, name: str) -> list[Path]:
    """The extension files of one compiled module: the module (and mypyc's library)."""
    return [directory / f"{stem}{suffix}"
            for stem in ((name, f"{name}__mypyc") if name in MYPYC else (name,))
            for suffix in importlib.machinery.EXTENSION_SUFFIXES]


def _remove_outputs(directory: Path) -> None:
    """A build's extensions and its manifest, gone: nothing of it can pass for compiled."""
    for name in COMPILED:
        for path in _extension_files(directory, name):
            path.unlink(missing_ok=True)
    (directory / MANIFEST).unlink(missing_ok=True)


class BuildExt(build_ext):
    """build_ext that starts from no compiled module and records what it compiled."""

    def run(self) -> None:
        targets = [Path(self.build_lib) / "watcher"]
        if self.inplace or getattr(self, "editable_mode", False):
            targets.append(PACKAGE_DIR)
        for directory in targets:  # an earlier build must not stand in for a failed one
            _remove_outputs(directory)
        super().run()
        for directory in targets:
            if directory.is_dir():
                self._record(directory)

    def _record(self, directory: Path) -> None:
        digests = {}
        for name in COMPILED:
            files = [p for p in _extension_files(directory, name) if p.is_file()]
            stems = 2 if name in MYPYC else 1  # (mypyc's: the module and its library)
            if len({p.name.split(".")[0] for p in files}) == stems:
                digests[name] = SOURCE_DIGESTS[name]
            else:  # half built (one of the two failed): neither is to be imported
                for path in files:
                    path.unlink()
        (directory / MANIFEST).write_text(
            json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _extensions() -> list[Any]:
    if _pure():
        _remove_outputs(PACKAGE_DIR)  # an editable install's earlier build
        return []
    if BUILD_COMMANDS.isdisjoint(sys.argv[1:]):
        return []  # metadata only: nothing to compile
    digest = _compiled_module().source_digest
    for name in COMPILED:  # the sources as compiled
        SOURCE_DIGESTS[name] = digest(PACKAGE_DIR, name)
    # optional, every extension: a failed compile leaves the module pure Python
    handwritten = [
        Extension(f"watcher.{name}", [f"src/watcher/{name}.c"], optional=True,
                  # a fused multiply-add would round otherwise than Python does
                  extra_compile_args=["-O2", "-ffp-contract=off"])
        for name in HANDWRITTEN
    ]
    try:
        from mypyc.build import mypycify  # a build requirement (pyproject.toml)
    except ImportError as exc:  # built without isolation, in an environment without mypy
        print(f"watcher: mypyc unavailable ({exc}); {', '.join(MYPYC)} stay pure Python",
              file=sys.stderr)
        return handwritten
    # separate: each module in its own pair of extensions, inside the package
    try:
        extensions = mypycify([f"src/watcher/{name}.py" for name in MYPYC], separate=True)
    except (Exception, SystemExit) as exc:  # mypy's type check failed (it exits)
        print(f"watcher: mypyc cannot compile the modules ({exc!r}); they stay pure Python",
              file=sys.stderr)
        _remove_outputs(PACKAGE_DIR)
        return handwritten
    for ext in extensions:
        ext.optional = True
    return extensions + handwritten


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
