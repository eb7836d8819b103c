"""The digest's casualty timeline: each story's current death toll over time, as a PNG.

A story's line steps up at each report of a higher toll (the current toll is the highest figure
any source reported so far, see `watcher.lifecycle`), so conflicting lower figures never pull it
down. Rendered with matplotlib's Agg backend: no display, no files, bytes out.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime

from watcher.models import SourcedFigure

MAX_STORIES = 8  # lines in one chart; the stories with the highest tolls
LABEL_MAX = 60


def timeline(series: Sequence[SourcedFigure]) -> list[tuple[datetime, int]]:
    """(time, current toll) at each report that raised the toll, oldest first."""
    points: list[tuple[datetime, int]] = []
    top = 0
    for f in sorted((f for f in series if f.kind == "killed"), key=lambda f: f.published):
        if f.count > top:
            top = f.count
            points.append((f.published, top))
    return points


def toll_chart(stories: Mapping[str, Sequence[SourcedFigure]], title: str,
               until: datetime) -> bytes | None:
    """A PNG of the stories' toll timelines (story title -> its figures), or None when no story
    has a figure. Each line runs on to `until`, the end of the period."""
    lines = {name: timeline(s) for name, s in stories.items()}
    lines = {name: pts for name, pts in lines.items() if pts}
    if not lines:
        return None
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt

    ranked = sorted(lines.items(), key=lambda kv: -kv[1][-1][1])[:MAX_STORIES]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    try:
        for name, pts in ranked:
            xs = mdates.date2num(  # type: ignore[no-untyped-call]
                [t for t, _ in pts] + [max(until, pts[-1][0])])
            ys = [n for _, n in pts] + [pts[-1][1]]
            label = name if len(name) <= LABEL_MAX else name[: LABEL_MAX - 1] + "…"
            label = label.replace("$", r"\$")  # feed text is not mathtext
            ax.step(xs, ys, where="post", marker="o", markersize=3, label=label)
        ax.set_title(title.replace("$", r"\$"))
        ax.set_ylabel("killed (current toll)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
        fig.autofmt_xdate()
        ax.legend(fontsize="small", loc="upper left")
        buf = io.BytesIO()
        with warnings.catch_warnings():  # glyphs missing from the font (Armenian...) are boxes
            warnings.simplefilter("ignore", UserWarning)
            fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)


__all__ = ["timeline", "toll_chart"]
