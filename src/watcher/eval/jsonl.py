"""Reading labelled JSON Lines corpora: one JSON object per line, blank lines skipped, ids
unique. Errors name the file and line (`CorpusError`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar


class CorpusError(Exception):
    """The corpus file cannot be read or a line is not a valid record."""


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


def parse_lines(lines: Iterable[str], name: str,
                parse_record: Callable[[Any, str], T]) -> list[T]:
    """`parse_record(obj, "file:line")` for every non-blank line; duplicate ids are errors."""
    items: list[T] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); "
                              "each line must hold one JSON object") from None
        item = parse_record(obj, where)
        if item.id in seen:
            raise CorpusError(f"{where}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


def load(path: Path, parse: Callable[[Iterable[str], str], list[T]], what: str) -> list[T]:
    """The records of the file at `path`; `what` names the expected file in the error for a
    missing one ("an escalation JSONL corpus (e.g. ...)")."""
    try:
        with path.open(encoding="utf-8") as fh:
            items = parse(fh, str(path))
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file; give the path of {what}") from None
    except IsADirectoryError:
        raise CorpusError(f"{path}: is a directory; give a JSONL file") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    if not items:
        raise CorpusError(f"{path}: no records; expected one JSON object per line")
    return items
