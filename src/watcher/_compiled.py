"""Which of the per-article modules run compiled (see setup.py) and which from source.

An install may hold, beside ``match.py``, an extension module built from it by mypyc
(``match.cpython-311-x86_64-linux-gnu.so``), or beside ``storymath.py`` one built from its C
version ``storymath.c``; Python imports the extension first. ``compiled.json``, written by the
build, holds the digest of each source compiled (``source_digest``). An extension is used
only when its source is unchanged since the build (an editable install keeps running the source
a developer edits, never a stale build) and ``WATCHER_PURE_PYTHON`` is unset (set it to profile,
or to compare); otherwise ``install()`` makes the module import from its ``.py``. Nothing here
imports the modules.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

PACKAGE_DIR = Path(__file__).resolve().parent
MANIFEST = "compiled.json"
PURE_ENV = "WATCHER_PURE_PYTHON"


def _built(files: set[str], stem: str) -> bool:
    """Whether ``files`` (a directory's names) hold an extension module named ``stem``."""
    return any(f"{stem}{suffix}" in files for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def source_digest(directory: Path, name: str) -> str:
    """The SHA-256 of a module's source: its ``.py``, and its ``.c`` when it has one (a module
    with a C version written by hand, which must give the results of the ``.py``)."""
    sha = hashlib.sha256((directory / f"{name}.py").read_bytes())
    handwritten = directory / f"{name}.c"
    if handwritten.is_file():
        sha.update(b"\0")
        sha.update(handwritten.read_bytes())
    return sha.hexdigest()


def _digests(directory: Path) -> dict[str, str]:
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def survey(directory: Path = PACKAGE_DIR, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """For each module of ``directory`` built as an extension: "compiled" when the extension
    is to be used, else why its source is used instead."""
    pure = env.get(PURE_ENV, "") not in ("", "0")
    digests = _digests(directory)
    files = set(os.listdir(directory))  # one listing, not a stat per module and suffix
    out: dict[str, str] = {}
    for name in sorted(f[:-3] for f in files if f.endswith(".py")):
        if not _built(files, name):
            continue
        if pure:
            out[name] = f"source ({PURE_ENV} is set)"
        elif f"{name}.c" not in files and not _built(files, f"{name}__mypyc"):
            # (the library a mypyc module loads; a module built from name.c has none)
            out[name] = (f"source (incomplete build: no {name}__mypyc library, nor a {name}.c "
                         "source; pip install again)")
        elif name not in digests:
            out[name] = f"source (no digest in {MANIFEST}: rebuild with pip install)"
        elif source_digest(directory, name) != digests[name]:
            out[name] = "source (changed since the build; pip install again to compile it)"
        else:
            out[name] = "compiled"
    return out


class _FromSource:
    """A meta path finder that imports the listed ``watcher`` modules from their ``.py``."""

    def __init__(self, sources: Mapping[str, Path]) -> None:
        self.sources = dict(sources)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self.sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def install(
    directory: Path = PACKAGE_DIR, package: str = "watcher", env: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """Route the imports of the modules not to be run compiled to their source; returns
    ``survey``'s verdicts."""
    verdicts = survey(directory, env)
    sources = {
        f"{package}.{name}": directory / f"{name}.py"
        for name, verdict in verdicts.items() if verdict != "compiled"
    }
    # (again, on a reload of the package: one finder, the latest verdicts)
    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__qualname__ != "_FromSource"
                        or type(f).__module__ != __name__]
    if sources:
        sys.meta_path.insert(0, _FromSource(sources))
    return verdicts


def load_source(name: str, directory: Path = PACKAGE_DIR) -> ModuleType:
    """``watcher.<name>`` executed from its ``.py``, as a module of another name
    (``_source_watcher_<name>``), beside the compiled one in use: to compare the two."""
    spec = importlib.util.spec_from_file_location(
        f"_source_watcher_{name}", directory / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no source for watcher.{name} in {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while a class is built
    spec.loader.exec_module(module)
    return module
