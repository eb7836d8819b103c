"""One article against one watch, exactly as the pipeline judges it: escalation score, casualty
figures, severity. The pipeline, `watcher explain`, backtests and `watcher.eval watch` all call
`assess`, so what is evaluated is what alerts."""

from __future__ import annotations

from dataclasses import dataclass

from watcher.casualties import extract_casualties
from watcher.match import CompiledWatch, score
from watcher.models import CasualtyReport, MatchResult


@dataclass(frozen=True, slots=True)
class Assessment:
    match: MatchResult
    casualties: CasualtyReport | None  # extracted only when the watch's entities are present

    @property
    def severity(self) -> str | None:
        return self.match.severity

    @property
    def alerts(self) -> bool:
        return self.match.severity is not None

    def matched_terms(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(
            h.term for h in self.match.hits if h.rule.startswith("escalation:") and h.weight > 0
        ))


def assess(
    compiled: CompiledWatch, title: str, text: str, *, always_casualties: bool = False
) -> Assessment:
    """Score and, for an alert (or when asked), extract the casualty figures."""
    result = score(compiled, title, text)
    report = None
    if result.alerts or always_casualties:
        report = extract_casualties(f"{title}\n{text}" if title else text)
    return Assessment(result, report)
