"""Every real-world document in ../shared/corpus/feeds goes through the parser: no exception, no
real item lost (at least feedparser's count, empty phantom items aside), only absolute http(s)
links, titles without markup, and non-feeds reported as such."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.parse import parse_feed

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"
NOW = datetime(2026, 6, 1, tzinfo=UTC)
BASE = "https://feeds.example/section/feed.xml"
MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*(\s[^<>]*)?/?\s*>")


def manifest() -> list[dict[str, str]]:
    path = CORPUS / "MANIFEST.tsv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = manifest()


@pytest.mark.skipif(not ROWS, reason="../shared/corpus/feeds is not present")
@pytest.mark.parametrize("row", ROWS, ids=[r["path"] for r in ROWS])
def test_corpus_document(row: dict[str, str]) -> None:
    body = (CORPUS / row["path"]).read_bytes()
    parsed = parse_feed("corpus", BASE, body, {}, NOW)
    fp_entries = int(row["fp_entries"]) if row["fp_entries"].isdigit() else 0
    if parsed.error_kind:
        assert parsed.error_kind == "not_a_feed" and parsed.articles == ()
        assert fp_entries == 0, f"feedparser found {fp_entries} entries we reject"
        return
    assert len(parsed.articles) + parsed.skipped >= fp_entries
    ids = [a.id for a in parsed.articles]
    assert len(ids) == len(set(ids))
    for a in parsed.articles:
        assert a.title or a.text or a.url
        if a.url:
            assert a.url.startswith(("http://", "https://")), a.url
        assert not MARKUP.search(a.title), a.title
        assert a.published <= NOW


@pytest.mark.skipif(not ROWS, reason="../shared/corpus/feeds is not present")
def test_html_pages_and_empty_bodies_are_not_feeds() -> None:
    kinds = {r["path"]: parse_feed("c", BASE, (CORPUS / r["path"]).read_bytes(), {}, NOW)
             for r in ROWS if r["format"] in ("html", "empty")}
    assert kinds and all(p.error_kind == "not_a_feed" for p in kinds.values())


@pytest.mark.skipif(not ROWS, reason="../shared/corpus/feeds is not present")
def test_json_feeds_and_gzip_bodies_are_read() -> None:
    json_rows = [r for r in ROWS if r["format"] == "json" and r["known_issue"] == "none"]
    gz_rows = [r for r in ROWS if "gzip" in r["format"]]
    assert json_rows and gz_rows
    for r in json_rows + gz_rows:
        parsed = parse_feed("c", BASE, (CORPUS / r["path"]).read_bytes(), {}, NOW)
        assert parsed.error_kind is None and parsed.articles, r["path"]
