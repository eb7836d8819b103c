"""Build hook: compile the per-article text modules with mypyc (pyproject.toml holds the rest).

`watcher.match` and `watcher.casualties` run on every article of every poll; compiled to C by
mypyc (shipped with mypy, a build requirement) they run about 1.3x faster with the same results
(`tests/test_compiled.py`). The build stays pure Python, and watcher runs the same, when:

* `WATCHER_PURE_PYTHON=1` is set at install time (or at run time: see `watcher._compiled`);
* mypyc cannot be imported, or a module fails to compile (no C compiler, no Python headers):
  the extensions are optional, so pip warns and installs the pure modules.

The digest of each compiled source goes to `src/watcher/compiled.json`: an editable install
whose source changed after the build runs the changed source, not the stale extension.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup

ROOT = Path(__file__).resolve().parent
COMPILED = ("match", "casualties")  # modules of src/watcher/
MANIFEST = ROOT / "src" / "watcher" / "compiled.json"


def _extensions() -> list[Any]:
    if os.environ.get("WATCHER_PURE_PYTHON", "") not in ("", "0"):
        MANIFEST.unlink(missing_ok=True)
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as exc:  # pragma: no cover - depends on the build environment
        print(f"watcher: mypyc unavailable ({exc}); installing pure Python", file=sys.stderr)
        MANIFEST.unlink(missing_ok=True)
        return []
    paths = [f"src/watcher/{name}.py" for name in COMPILED]
    digests = {
        name: hashlib.sha256((ROOT / path).read_bytes()).hexdigest()
        for name, path in zip(COMPILED, paths, strict=True)
    }
    MANIFEST.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    # one extension per module (no shared library outside the package), each optional: a
    # failed compile leaves that module pure Python
    extensions = mypycify(paths, separate=True, opt_level="3")
    for ext in extensions:
        ext.optional = True
    return extensions


setup(ext_modules=_extensions())
