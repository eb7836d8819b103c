"""One article against one watch, exactly as the pipeline judges it: escalation score, casualty
figures, severity. The pipeline, `watcher explain`, backtests and `watcher.eval watch` all call
`assess`, so what is evaluated is what alerts.

Rules on top of :func:`watcher.match.score` (whose docstring is the matching reference):

* Repeated title: when the text begins with the title (a feed entry without a title is given
  one cut from its text; some feeds repeat the headline as the first line of the body), the
  title is not scored a second time: the text alone is scored, and every hit offset still
  indexes ``title + "\\n" + text``.
* Deaths raise the severity: when the article alerts on its own (its score reaches the watch's
  lowest threshold) and the casualty extractor finds a *current* killed toll of at least one
  (this incident's dead, not a historical or earlier figure), the severity becomes the watch's
  highest. Deaths in an escalation are what the highest severity is for; the score alone cannot
  tell "shelling, no casualties" from "shelling kills 17". The rule adds a hit
  ``casualties:killed`` (weight 0, the figure's sentence as its span, note saying what it did)
  so explanations show why. Articles below the threshold are never raised: a death toll is not
  escalation evidence on its own (an accident, a historical massacre).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from watcher.casualties import extract_casualties
from watcher.match import CompiledWatch, score
from watcher.models import CasualtyReport, MatchResult, RuleHit

DEATHS_RULE = "casualties:killed"


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
    """Score and, for an alert (or when asked), extract the casualty figures; a current death
    toll in an alerting article raises it to the watch's highest severity."""
    result = _score(compiled, title, text)
    report = None
    if result.alerts or always_casualties:
        report = extract_casualties(f"{title}\n{text}" if title else text)
    if result.alerts and report is not None:
        result = _raise_for_deaths(compiled, result, report, 0 if title else 1)
    return Assessment(result, report)


def _score(compiled: CompiledWatch, title: str, text: str) -> MatchResult:
    """`score`, the title left out when the text repeats it (offsets kept into title + text)."""
    if not title or not text.startswith(title):
        return score(compiled, title, text)
    result = score(compiled, "", text)
    shift = len(title)  # "\n" + text  ->  title + "\n" + text
    hits = tuple(replace(h, start=h.start + shift, end=h.end + shift) for h in result.hits)
    return replace(result, hits=hits)


def _raise_for_deaths(
    compiled: CompiledWatch, result: MatchResult, report: CasualtyReport, shift: int
) -> MatchResult:
    killed = report.killed
    top = compiled.severities[-1].name if compiled.severities else result.severity
    if killed is None or killed.count < 1 or top is None or result.severity == top:
        return result
    start, end = killed.span[0] + shift, killed.span[1] + shift
    hit = RuleHit(
        rule=DEATHS_RULE, term="current killed toll", matched=killed.text, start=start, end=end,
        weight=0.0, note=f"{killed.count} killed: severity {result.severity} -> {top}",
    )
    hits = tuple(sorted((*result.hits, hit), key=lambda h: (h.start, h.end, h.rule)))
    return replace(result, severity=top, hits=hits)
