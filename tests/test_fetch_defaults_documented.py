"""SECURITY.md's table of limits states the defaults the code has."""

from __future__ import annotations

import re
from pathlib import Path

from watcher.config import FetchConfig

ROOT = Path(__file__).resolve().parents[1]


def test_security_md_states_the_default_concurrency() -> None:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    m = re.search(r"\| `per_host`, `concurrency` \| (\d+) / (\d+) \|", text)
    assert m, "SECURITY.md: no row for per_host / concurrency"
    defaults = FetchConfig()
    assert (int(m.group(1)), int(m.group(2))) == (defaults.per_host, defaults.concurrency)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"^concurrency = {defaults.concurrency}\b", readme, re.M)
