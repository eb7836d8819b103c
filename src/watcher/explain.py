"""Human-readable explanations of a watch's verdict: `watcher explain` and `watcher backtest`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from watcher.assess import Assessment
from watcher.models import CasualtyFigure, Watch


def _context(joined: str, start: int, end: int, width: int = 40) -> str:
    left = joined[max(0, start - width):start].replace("\n", " ")
    right = joined[end:end + width].replace("\n", " ")
    return f"…{left}[{joined[start:end]}]{right}…"


def _figure(fig: CasualtyFigure) -> str:
    count = f"{fig.count}–{fig.count_high}" if fig.count_high is not None else str(fig.count)
    state = "current" if fig.current else f"not current ({fig.reason or 'background'})"
    return f"{fig.kind} {count} [{fig.qualifier}] {state}: “{fig.text.strip()}”"


def render_explanation(watch: Watch, title: str, text: str, verdict: Assessment) -> str:
    joined = f"{title}\n{text}"
    m = verdict.match
    thresholds = ", ".join(f"{s.name} >= {s.threshold:g}" for s in watch.severities)
    lines = [
        f"watch {watch.name}: score {m.score:.2f} -> "
        + (f"ALERT, severity {m.severity}" if m.severity else "no alert")
        + f"  ({thresholds})",
        f"entity groups found: {', '.join(m.entities) or 'none'} "
        f"(needs {watch.min_entities})",
        "",
        "rules that fired (weight, where):",
    ]
    for h in sorted(m.hits, key=lambda h: h.start):
        note = f" ({h.note})" if h.note else ""
        lines.append(f"  {h.weight:+6.2f}  {h.rule:<32} {_context(joined, h.start, h.end)}{note}")
    if not m.hits:
        lines.append("  none")
    esc = sum(h.weight for h in m.hits if h.rule.startswith("escalation:"))
    de = -sum(h.weight for h in m.hits if h.rule.startswith("deescalation:"))
    lines += ["", f"escalation {esc:+.2f}, de-escalation {-abs(de):+.2f} -> score {m.score:.2f}"]
    report = verdict.casualties
    lines += ["", "casualty figures:"]
    if report is None:
        lines.append("  not extracted (no alert)")
    elif not report.figures:
        lines.append("  none found")
    else:
        for fig in report.figures:
            lines.append(f"  {_figure(fig)}")
        cur = [f"{k}: {f.count}" for k, f in (("killed", report.killed),
                                               ("injured", report.injured)) if f is not None]
        lines.append(f"  current toll: {', '.join(cur) or 'none'}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class BacktestRow:
    published: str
    severity: str
    score: float
    feed: str
    title: str
    killed: int | None


def render_backtest(watch: Watch, rows: Sequence[BacktestRow], scanned: int,
                    since: str) -> str:
    counts = Counter(r.severity for r in rows)
    order = [s.name for s in sorted(watch.severities, key=lambda s: -s.threshold)]
    lines = [f"backtest of watch {watch.name} over {scanned} stored articles since {since}:"]
    for r in rows:
        killed = f" killed {r.killed}" if r.killed is not None else ""
        lines.append(f"  {r.published}  {r.severity:<9} {r.score:6.2f}  {r.feed[:20]:<20} "
                     f"{r.title[:80]}{killed}")
    lines.append("would alert: " + ", ".join(f"{n} {counts.get(n, 0)}" for n in order)
                 + f"; total {len(rows)} of {scanned}")
    return "\n".join(lines)


def severity_counts(rows: Iterable[BacktestRow]) -> dict[str, int]:
    return dict(Counter(r.severity for r in rows))
