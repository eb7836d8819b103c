"""Example articles written for the tests (our own words, modelled on the kind of wire story the
project was conceived from: a current toll beside a historical one, escalation and de-escalation
language, and a publisher's donation appeal appended at the end)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

BORDER_TITLE = "Shelling resumes on Armenia-Azerbaijan frontier as toll climbs"
BORDER_PARAGRAPHS = [
    "Armenian and Azerbaijani forces exchanged artillery fire again on Wednesday, officials in "
    "Yerevan and Baku said, after a week of clashes along the shared border.",
    "The shelling, which each side blames on the other, has so far killed 17 people, the two "
    "defence ministries said in separate statements.",
    "The two countries went to war in the 1990s over the disputed Karabakh region, a conflict "
    "that killed about 30,000 people.",
    "A Kremlin spokesman said Moscow was ready to mediate between the neighbours.",
]
APPEAL_PARAGRAPHS = [
    "A note to our readers",
    "Independent journalism in the region is under pressure. Please support our newsroom with a "
    "monthly contribution from just $5. Every gift keeps our reporting free for everyone.",
    "Support us today",
    "Not now",
]
APPEAL_MARKERS = ("note to our readers", "support our newsroom", "monthly contribution",
                  "Support us today", "Not now")

# Written as HTML with the Slack control sequences entity-escaped, so that after cleaning they are
# literal text ("<!channel>") that only Slack escaping can defuse.
HOSTILE_TITLE = ("&lt;!channel&gt; Azerbaijan shelling near &lt;@U123&gt; border "
                 "&lt;http://evil.example|bank.com&gt;")
HOSTILE_BODY = ("<p>Armenia reported artillery attacks and clashes near Tavush; &lt;!here&gt; "
                "click &lt;http://evil.example/login|your bank&gt; now. Two soldiers were killed "
                "in the fighting, officials said.</p>")
HOSTILE_RAW = ("<!channel>", "<!here>", "<@U123>", "<http://evil.example")


def border_html(with_appeal: bool = True) -> str:
    paras = BORDER_PARAGRAPHS + (APPEAL_PARAGRAPHS if with_appeal else [])
    return "".join(f"<p>{p}</p>" for p in paras)


def rss_item(title: str, link: str, guid: str, html: str, published: datetime) -> str:
    return (
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{escape(guid)}</guid>'
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<description>{escape(html)}</description></item>"
    )


def rss_feed(items: list[str], title: str = "Test wire") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>https://wire.example/</link>"
        "<description>test</description>" + "".join(items) + "</channel></rss>"
    ).encode()


def now_minus(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


DRONE_TITLE = "Drone strike near Lachin road kills three Azerbaijani soldiers, Baku says"
DRONE_PARAGRAPHS = [
    "Azerbaijan's defence ministry said on Saturday that a drone strike hit an army post near "
    "the Lachin road before dawn, killing three soldiers and wounding two.",
    "Yerevan denied any involvement and called the claim a provocation ahead of the next round "
    "of border talks.",
]


def drone_html() -> str:
    return "".join(f"<p>{p}</p>" for p in DRONE_PARAGRAPHS)
