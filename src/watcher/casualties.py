"""Casualty figures from news text: a small rule-based grammar, pure and fast (no I/O, no ML).

`extract_casualties(text)` finds killed, injured and missing figures and decides which of them are
the *current* toll of the incident being reported.

How it works
------------
1. The text is tokenised once and split into paragraphs (lines) and sentences. When the text has
   several lines and the first one has no final full stop it is treated as a headline
   (RSS items are ``title + "\\n" + description``): headline figures are used only when the body
   states none ("body over headline").
2. Every casualty trigger (``killed``, ``dead``, ``wounding``, ``death toll``, ``lives``,
   ``bodies``, ``missing``...) is linked to a quantity by a few grammatical frames: object
   (``killing 31 people``, ``killed a farmer, a nurse and a driver``), subject (``three
   policemen and a shopkeeper died``, ``58 dead``), noun + *of* (``the murder of 6 miners``),
   running totals (``the toll rose to 25``, ``bringing the number of dead to 39``), lives
   (``claimed 14 lives``), partitives (``one of the three climbers died``), singular passives
   (``a named person was killed`` = 1) and unrestricted negations (``no casualties`` = 0 and 0).
3. Each figure is then judged current or not: irrealis (``could kill``, ``threatened to kill``),
   rates (``five a week``), trials, an actor's past record, background incidents (``in revenge
   for the deaths of 6``), war-long tolls, and the nearest time expression in the same clause (a
   year or a calendar date older than the dateline, ``last month``, ``since March``, ``so far
   this year`` against ``on Sunday``, ``yesterday``, ``so far``). A sentence without a time
   expression inherits the one of the previous sentence in the same paragraph.
4. The current toll per kind: the largest running total if any, else the incident figures (the
   largest per victim group - civilians, security forces, combatants - summed across groups, or the
   largest umbrella figure such as ``people`` if that is larger), else an explicit zero.

Vague amounts (``dozens``, ``several``) are reported with qualifier ``vague`` and a conservative
lower bound as ``count`` (``several`` = 3, ``dozens`` = 24...), never as the current toll.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from itertools import accumulate, compress
from operator import attrgetter

from watcher.models import CasualtyFigure, CasualtyKind, CasualtyReport, Qualifier

# str.lower, called as a function: compiled by mypyc (setup.py), ``text.lower()`` becomes a
# per-character lowering that misses the Greek final sigma ("ΟΔΟΣ" -> "οδοσ", not "οδος"), so
# text that may not be ASCII is lowered through this
_str_lower = str.lower

__all__ = ["extract_casualties"]

# ---
# Lexicon
# ---


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}

# Vague amounts and the conservative lower bound reported as their count.
_VAGUE_WORDS = {
    "several": 3, "dozens": 24, "scores": 40, "hundreds": 200, "thousands": 2000, "many": 2,
    "numerous": 3, "multiple": 2, "countless": 2, "few": 2, "most": 2, "some": 2, "tens": 20,
}
_VAGUE_PHRASES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("tens", "of", "thousands"), 20000),
    (("hundreds", "of", "thousands"), 200000),
    (("a", "large", "number", "of"), 10),
    (("a", "number", "of"), 2),
    (("a", "handful", "of"), 2),
    (("a", "lot", "of"), 2),
    (("a", "few"), 2),
    (("large", "numbers", "of"), 10),
)

# Qualifiers that must be followed by a number to count as such.
_QUALIFIERS: tuple[tuple[tuple[str, ...], Qualifier], ...] = (
    (("no", "fewer", "than"), "at_least"),
    (("no", "less", "than"), "at_least"),
    (("not", "less", "than"), "at_least"),
    (("a", "minimum", "of"), "at_least"),
    (("at", "least"), "at_least"),
    (("more", "than"), "more_than"),
    (("upwards", "of"), "more_than"),
    (("in", "excess", "of"), "more_than"),
    (("well", "over"), "more_than"),
    (("just", "over"), "more_than"),
    (("over",), "more_than"),
    (("above",), "more_than"),
    (("an", "estimated"), "about"),
    (("about",), "about"),
    (("around",), "about"),
    (("approximately",), "about"),
    (("roughly",), "about"),
    (("some",), "about"),
    (("estimated",), "about"),
    (("nearly",), "nearly"),
    (("almost",), "nearly"),
    (("close", "to"), "nearly"),
    (("just", "under"), "nearly"),
    (("up", "to"), "up_to"),
    (("as", "many", "as"), "up_to"),
    (("at", "most"), "up_to"),
    (("a", "total", "of"), "exact"),
    (("all",), "exact"),  # "all 43 people on board"
)

_PERSON_SG = _words("""
sibling friend neighbour neighbor parent grandparent
male female person man woman child kid boy girl baby infant toddler teenager teen youth adult
civilian
resident villager local national citizen pedestrian passenger driver tourist worker employee
student pupil teacher professor doctor nurse medic journalist reporter photographer cameraman
farmer shepherd fisherman miner peasant protester protestor demonstrator worshipper pilgrim
refugee migrant prisoner inmate detainee hostage captive victim bystander shopkeeper vendor
official officer policeman policewoman cop soldier trooper serviceman servicewoman marine
guard guardsman sailor airman pilot recruit conscript commander leader colonel captain
sergeant lieutenant major general militiaman militant insurgent rebel guerrilla guerilla
fighter gunman attacker assailant bomber terrorist extremist separatist jihadist suspect
member supporter activist councilwoman councilman mayor governor judge lawyer priest monk nun
imam engineer contractor diplomat crewman swimmer surfer hiker climber skier relative husband
wife son daughter father mother brother sister uncle aunt cousin grandmother grandfather
facilitator individual someone mourner guest customer shopper spectator settler peacekeeper
paramedic firefighter rescuer volunteer aid-worker laborer labourer motorist cyclist bodyguard
chief minister lawmaker legislator senator deputy candidate businessman businesswoman trader
merchant
""")

_PERSON_PL = _words("""
brothers sisters fathers mothers siblings cousins uncles aunts friends neighbours neighbors
couples parents grandparents teens
males females people persons men women children kids boys girls babies infants toddlers
teenagers teens
youths adults civilians residents villagers locals nationals citizens pedestrians passengers
drivers tourists workers employees students pupils teachers professors doctors nurses medics
journalists reporters photographers farmers shepherds fishermen miners peasants protesters
protestors demonstrators worshippers pilgrims refugees migrants prisoners inmates detainees
hostages captives victims bystanders shopkeepers vendors officials officers policemen police
cops soldiers troops troopers servicemen marines guards guardsmen sailors airmen pilots
recruits conscripts commanders leaders militiamen militia militants insurgents rebels
guerrillas guerillas fighters gunmen attackers assailants bombers terrorists extremists
separatists jihadists suspects members supporters activists priests monks nuns engineers
contractors diplomats crew crewmen swimmers relatives husbands wives sons daughters family
families facilitators individuals mourners guests customers shoppers spectators settlers
peacekeepers paramedics firefighters rescuers volunteers laborers labourers motorists cyclists
bodyguards others taliban muslims christians jews arabs kurds shiites sunnis hindus sikhs gis
personnel staff lawmakers businessmen traders merchants
""")

_DEMONYM_SG = _words("""
turk briton kurd arab jew thai swede dane pole czech scot greek frenchman englishman dutchman
filipino gi
""")

_CIVILIAN = _words("""
civilian civilians child children kid kids woman women girl girls boy boys baby babies infant
infants toddler toddlers teenager teenagers student students pupil pupils villager villagers
resident residents pedestrian pedestrians passenger passengers tourist tourists worker workers
farmer farmers peasant peasants worshipper worshippers pilgrim pilgrims journalist journalists
teacher teachers professor national nationals protester protesters demonstrators demonstrator
refugee refugees shopper shoppers family families bystander bystanders
""")
_SECURITY = _words("""
soldier soldiers troop troops trooper troopers police policeman policemen policewoman officer
officers guard guards guardsman guardsmen marine marines serviceman servicemen recruit
recruits sailor sailors airman airmen gi gis peacekeeper peacekeepers conscript conscripts
personnel
""")
_COMBATANT = _words("""
insurgent insurgents militant militants rebel rebels guerrilla guerrillas guerilla guerillas
fighter fighters gunman gunmen attacker attackers assailant assailants bomber bombers
terrorist terrorists extremist extremists separatist separatists jihadist jihadists leader
leaders commander commanders facilitator facilitators taliban militiaman militiamen self
""")

# Nouns that make "<number> <noun>" something other than people.
_NONPERSON = _words("""
dog dogs cat cats horse horses pet pets animal animals livestock
year years month months week weeks day days hour hours minute minutes second seconds decade
decades century centuries time times km kilometers kilometres kilometre kilometer mile miles
meter meters metre metres feet foot yard yards inch inches percent per cent dollars dollar
euros euro pounds yuan rupees cents billion homes home houses house buildings building
vehicles vehicle cars car trucks truck buses tanks aircraft planes plane helicopters missiles
missile rockets rocket grenades grenade bombs bomb shells shell mortars mortar rounds bullets
weapons weapon guns gun rifles mines countries country villages towns cities provinces
districts hospitals schools incidents incident attacks attack blasts blast explosions bombings
raids operations points goals runs seats votes cattle sheep goats animals birds dogs cows
horses trees acres hectares tons tonnes degrees storeys floors pages bills bill laws law jobs
projects records cases miners' magnitude richter storey stories shops stores inns hotels bars
mosques churches offices hours'
""")

# Subjects of "was killed" that are not people (figurative uses).
_FIGURATIVE_SUBJECTS = _words("""
bill plan deal proposal measure idea project motion legislation amendment law talks process it
this that which engine story program programme scheme reform treaty offer bid
""")

_FUNCTION = _words("""
a an the this that these those his her its their our my your any no of in on at by for from to
with into onto near during after before since over under across along around about between
among amongst including as than like through throughout outside inside within without against
via per and or but nor while when where whereas if because although though so yet was were is
are be been being am have has had do does did will would could should may might must can shall
who whom whose which what he she it they we i you him them us me not also still just only even
all both each every either neither said says say told reported according other's there here
then again today tonight yesterday overnight monday tuesday wednesday thursday friday saturday
sunday earlier later ago now week weekend morning evening night afternoon
""")

_MODALS = _words("""
would could might will shall should can may must cannot
""")
_AUX = _words("""
was were is are be been being has have had get got gets getting also reportedly allegedly
later all each subsequently then still apparently confirmed believed feared reported presumed
found declared pronounced listed initially later may might
""")
_PLURAL_AUX = _words("""
were are have
""")
_SINGULAR_AUX = _words("""
was is has
""")

_KILL_ACTIVE = _words("""
kill kills killed killing slay slays slew murder murders murdered murdering massacre massacres
massacred massacring assassinate assassinates assassinated assassinating execute executes
executed executing
""")
_KILL_PASSIVE = _words(
    "killed slain murdered massacred assassinated executed died die dies perished perish "
    "drowned"
)
_INJ_ACTIVE = _words(
    "injure injures injured injuring wound wounds wounded wounding hurt hurts hurting maimed "
    "maiming"
)
_INJ_PASSIVE = _words("""
injured wounded hurt maimed
""")
# Participles that can also be active past tenses ("gunmen killed two" vs "two killed").
_AMBIGUOUS = _words(
    "killed murdered massacred assassinated executed injured wounded hurt maimed"
)
_NOUN_VERBS = _words("murder murders massacre massacres")
_BASE_FORMS = _words(
    "kill die injure wound hurt murder slay massacre assassinate execute maim perish"
)
_NOUN_OF = _words(
    "killing killings deaths death murder murders massacre slaying slayings assassination "
    "assassinations bodies"
)
_DEATH_NOUNS = _words("""
deaths fatalities bodies corpses
""")
_LIFE_VERBS = _words(
    "claimed claim claims claiming cost costs costing took take takes taking taken"
)
_TOLL_CONNECTORS = _words(
    "to at of reached reach reaches hit hits tops topped top passed passes surpassed exceeded "
    "stands stood now is was climbed rose"
)
_TRIGGER_WORDS = (
    _KILL_ACTIVE | _KILL_PASSIVE | _INJ_ACTIVE | _INJ_PASSIVE | _DEATH_NOUNS | _NOUN_OF
    | _words(
        "dead lives toll missing injuries wounds shot shoots shooting death number buried "
        "unaccounted"
    )
)
_NOT_NOUN = (_FUNCTION | _TRIGGER_WORDS | frozenset(_UNITS) | frozenset(_TENS)
             | frozenset(_SCALES) | frozenset(_VAGUE_WORDS) | frozenset(("dozen", "another")))
_ORDINALS = _words("""
second third fourth fifth sixth seventh eighth ninth tenth
""")
_WAR_MODIFIERS = _words(
    "military troop troops soldier soldiers army combat war war's conflict u.s. us coalition "
    "nato allied"
)
# Heads of a noun phrase naming a war or conflict as a whole: what it killed, cost or claimed is a
# war-long aggregate ("the conflict has killed 30,000 people", "a war that cost 30,000 lives"),
# unlike what an episode of it did ("the clashes have killed 17", "fighting that has killed 17
# since Tuesday"). Not "dispute" or "feud": "a land dispute left two men dead" is an incident
# (only a long-run one is background: "the decades-long dispute").
_WAR_NOUNS = _words(
    "war wars war's conflict conflicts conflict's insurgency uprising intifada rebellion civil-war"
)
# Modifiers that make any episode a long-run one ("the decades-long dispute"), and the spans of
# "years of fighting".
_LONG_RUN_MODIFIERS = _words(
    "decades-long decades-old decade-long decade-old years-long years-old long-running "
    "century-old generations-old"
)
_LONG_RUN_SPANS = _words("decades years generations centuries")
# Prepositions inside a subject ("the conflict over Karabakh", "fighting since 1992").
_SUBJECT_PREPS = _words("over in between with against of on along across for since from")
_SUBJECT_DETS = _words("a an the this these those its their his her")
# Between a subject and its verb: "has so far killed", "which has already claimed".
_SUBJECT_SKIP = _words("so far already now alone also reportedly")
# Verbs whose subject did what their object counts: "left 30,000 dead", "caused 30,000 deaths".
_RESULT_VERBS = _words("left leave leaves leaving caused cause causes causing")
_SPEECH_VERBS = _words(
    "said says say told reported announced added stated according quoted confirmed"
)
# "one of ...", "most of ...": the phrase after "of" is the set, not the casualties.
_PARTITIVE_HEADS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_VAGUE_WORDS) | _words(
    "none each all any both majority half rest remainder dozen"
)

# Words that can begin a counted noun phrase in subject position (besides digits).
_ITEM_START = (
    frozenset(_UNITS) | frozenset(_TENS) | frozenset(_VAGUE_WORDS)
    | frozenset(q[0][0] for q in _QUALIFIERS) | frozenset(v[0][0] for v in _VAGUE_PHRASES)
    | _words(
        "a an another both half dozen between the his her their its himself herself one"
    )
)

_ABBREVIATIONS = _words("""
mr mrs ms dr gen col lt sgt capt cpl pvt maj adm sen rep gov st jan feb mar apr jun jul aug
sep sept oct nov dec no vs inc co corp ltd mt ft jr sr prof rev approx est
""")

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1,
    "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10,
    "nov": 11, "dec": 12,
}

# ---
# Regular expressions (all compiled once)
# ---

# Tokens, each with the whitespace before it: end offsets are running sums of lengths, computed
# in C. Words keep inner hyphens, apostrophes, dots and digit commas
# ("twenty-five", "12-year-old", "1,500", "6.0", "U.S."); feed artefacts ("#39;") stay whole.
# (Written so that the common case needs no repeated group, the regex engine's slow path:
# "(?:[A-Za-z]\.){2,}" and "[\w'’]+(?:[-–.,][\w'’]+)*" match the same as below. A plain word,
# the commonest token, is tried first: possessive, it is the whole run of word characters, and
# that run is a token of its own unless a hyphen, dot or comma joins it to the next one - which
# is also the case of every run an initials alternative ("U.S.") would match.)
_TOKEN_RE = re.compile(
    r"\s*+(?:[\w'’]++(?![-–.,][\w'’])"
    r"|[A-Za-z]\.[A-Za-z]\.(?:[A-Za-z]\.)*"
    r"|[\w'’]++(?:[-–.,][\w'’]++)++"
    r"|[#&]\w+;|\S)"
)
_DIGITS_RE = re.compile(r"\d{1,3}(?:,\d{3})+|\d+")
_DIGIT_RE = re.compile(r"\d")
_DIGIT_RANGE_RE = re.compile(r"(\d+)[-–](\d+)")
_DECIMAL_RE = re.compile(r"\d+\.\d+")

# Substrings (of the lower-cased text) that can start a casualty phrase: sentences without any
# are never tokenised. Plain `in` / `find` is far cheaper than a regex alternation.
_HINTS = (
    "kill", "dead", "death", "died", "dies", "die ", "injur", "wound", "hurt", "casualt", "lives",
    "bodies", "corpses", "toll", "missing", "murder", "massacr", "slain", "slay", "slew",
    "assassin", "execut", "perish", "drown", "fatalit", "maim", "harm", "unaccounted", "buried",
    "loss of li",
)

_M = (r"(?:january|february|march|april|may|june|july|august|september|october|november|"
      r"december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _alternation(*alternatives: str) -> str:
    """``(?:alt1|alt2|...)``, with the alternatives that begin with the same letter grouped under
    it (``t(?:oday|onight)``): the regex engine then rejects a start position after one test per
    letter instead of one per alternative (2-3x faster on long lists). It matches exactly what
    the plain alternation matches: alternatives led by different letters never match at the same
    position, and the order of the others is kept. Alternatives led by a digit or ``\\d`` stay
    ungrouped, in place."""
    grouped: dict[str, list[str]] = {}
    order: list[str] = []  # a letter (its group) or an ungrouped alternative
    for alt in alternatives:
        head = alt[:1]
        if head.isascii() and head.isalpha() and alt[1:2] not in ("?", "*", "+", "{"):
            if head not in grouped:
                grouped[head] = []
                order.append(head)
            grouped[head].append(alt[1:])
        elif head.isdigit() or alt.startswith("\\d"):
            order.append(alt)
        else:
            raise ValueError(f"cannot group alternative {alt!r}")
    parts = []
    for item in order:
        rests = grouped.get(item) if len(item) == 1 else None
        if rests is None:
            parts.append(item)
        elif len(rests) == 1:
            parts.append(item + rests[0])
        else:
            parts.append(f"{item}(?:{'|'.join(rests)})")
    return f"(?:{'|'.join(parts)})"


_DATE_RE = re.compile(
    rf"(?P<pre>\b(?:on|of|since|from|until|in)\s+)?"
    rf"(?:(?P<d1>\d{{1,2}})\s+(?P<m1>{_M})\b\.?(?:,?\s+(?P<y1>\d{{4}}|\d{{2}})\b)?"
    rf"|(?P<m2>{_M})\b\.?\s+(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y2>\d{{4}})\b)?"
    rf"|(?P<m3>{_M})\b\.?,?\s+(?P<y3>(?:19|20)\d\d)\b"
    rf"|(?<=\bin\s)(?:(?:early|late|mid)[\s-]+)?(?P<m4>{_M})\b(?![\s.]*\d))",
    re.IGNORECASE,
)
_DATELINE_RES = (
    re.compile(r"\(\s*(?P<date>[^()\n]{3,24}?)\s*\)"),
    re.compile(r"(?m)^[A-Z][^\n,]{0,40}(?:,[^\n,]{0,30})?,\s*(?P<date>[^,()\n]{3,24}?)\s*"
               r"(?:\([^)\n]{0,60}\)\s*)?(?:--|–|—|-\s)"),
)


# Time expressions, by kind, each with the words one of which it needs (a cheap guard; the year
# pattern is guarded by digits instead).
# They run on the lower-cased sentence (no IGNORECASE: much faster); on overlap the earlier
# kind in this list wins.
_MARKER_PATTERNS: tuple[tuple[str, frozenset[str], re.Pattern[str]], ...] = (
    ("sup", _words("worst deadliest bloodiest biggest largest heaviest fiercest strongest "
                    "greatest highest most"), re.compile(
        r"\b(?:worst|deadliest|bloodiest|biggest|largest|heaviest|fiercest|strongest|greatest|"
        r"highest|most\s+\w+)\b[^,.;:]{0,60}?\b(?:since|in)\s+(?:[^\s,.;:]+\s+){0,2}"
        r"[^\s,.;:]+")),
    ("agg", _words("since far this past last previous throughout during date"), re.compile(
        _alternation(
            rf"since\s+(?:(?:early|late|mid)[\s-]+)?{_M}\b",
            r"since\s+(?:(?:early|late|mid)[\s-]+)?(?:19|20)\d\d",
            r"since\s+the\s+(?:start|beginning|outbreak|onset|end)\b"
            r"(?!\s+of\s+(?:the\s+)?(?:week|day|weekend))",
            r"since\s+(?:the\s+)?(?:war|conflict|uprising|intifada|insurgency|invasion|revolution|"
            r"independence|occupation)\b",
            r"since\s+its\s+\w+",
            r"so\s+far\s+this\s+(?:year|month|decade|century)\b",
            r"this\s+(?:year|decade|century)\b",
            *(rf"{w}\s+the\s+(?:past|last|previous)\s+(?:\w+\s+)?(?:weeks|months|years|decades)\b"
              for w in ("in", "over", "during", "for")),
            *(rf"{w}\s+the\s+(?:past|last|previous)\s+(?:year|month|decade)\b"
              for w in ("in", "over", "during")),
            *(rf"{w}\s+the\s+(?:war|conflict)\b" for w in ("throughout", "during")),
            r"to\s+date\b",
        ))),
    ("recent", _words("today tonight yesterday overnight night weekend this far hours hour days "
                       "day monday tuesday wednesday thursday friday saturday sunday mondays "
                       "tuesdays wednesdays thursdays fridays saturdays sundays"), re.compile(
        _alternation(
            "today", "tonight", "yesterday", "overnight", r"last\s+night", r"earlier\s+today",
            r"this\s+(?:morning|afternoon|evening|week|weekend)",
            *(rf"{w}\s+the\s+weekend" for w in ("at", "over", "during")), "weekend",
            *(f"{day}s?" for day in _WEEKDAYS),
            *(rf"{w}the\s+(?:past|last)\s+(?:few\s+|several\s+|two\s+|three\s+|\d+\s+)?"
              r"(?:hours|days)" for w in (r"in\s+", r"during\s+", r"over\s+", "")),
            r"hours?\s+(?:earlier|ago|later|before|after)",
            *(rf"{w}\s+days?\s+(?:earlier|ago|before)" for w in (
                "a", "one", "two", "three", "four", "five", "six", "seven", "few", "several",
                r"\d")),
            r"so\s+far",
        ) + r"\b")),
    ("hist", _words("last previous earlier ago before decades years generations centuries "
                    "anniversary"), re.compile(
        _alternation(
            *(rf"{w}\s+(?:week|month|year|spring|summer|autumn|fall|winter|decade|century)\b"
              for w in ("last", "previous")),
            r"earlier\s+this\s+(?:month|year)\b",
            *(rf"{w}\s+(?:ago|earlier|before)\b" for w in ("weeks", "months", "years", "decades")),
            *(rf"{w}\s+(?:month|year|decade)\s+(?:ago|earlier)\b" for w in ("a", "one")),
            *(rf"{w}\s+days\s+(?:ago|earlier)\b" for w in (
                r"\d\d+", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
                "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", r"twenty[\w-]*",
                r"thirty[\w-]*")),
            r"for\s+(?:decades|years|generations|centuries)\b",
            r"anniversary\b",
            r"19\d0'?s\b", r"20\d0'?s\b",
        ))),
    ("year", frozenset(), re.compile(r"(?:19|20)\d\d(?![\d-])")),
    ("rate", _words("per day week month year annually average averaged averages averaging "
                    "yearly"), re.compile(
        _alternation(
            r"per\s+(?:day|week|month|year)\b",
            *(rf"{w}\s+(?:day|week|month|year)\b(?!\s+(?:earlier|ago|later|after|before))"
              for w in ("a", "an", "each", "every")),
            r"annually\b", r"averag(?:e|ed|es|ing)\b", r"on\s+average\b", r"yearly\b",
        ))),
    ("since", _words("since"), re.compile(r"since\b")),
)
_MARKER_WORDS = frozenset().union(*(guards for _, guards, _ in _MARKER_PATTERNS))
# "a week" is a rate in "four a week", not in "in a week", "for a year", "from a week of".
_NOT_RATE_BEFORE = _words("""
in within for than of over once from after about
""")
_MONTH_WORD_RE = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*")
_TRIAL_HINTS = _words("trial tribunal sentenced sentencing convicted conviction verdict jury "
                      "acquitted acquittal imprisonment testify testified testifies court years")
_RECORD_HINTS = _words("carried masterminded behind news known infamous")
_MONTH_WORDS = frozenset(_MONTHS) | frozenset(m + "." for m in _MONTHS)
_INFO_WORDS = _MARKER_WORDS | _MONTH_WORDS | _TRIAL_HINTS | _RECORD_HINTS  # see _sentence_info
_WORD_RE = re.compile(r"[a-z0-9'.]+")
# Words of 4+ letters (see _Doc.title_case), and those with a capital initial: led by the capital
# (the engine skips to the next one), the word start checked after it ("(?<!\w[A-Z])" after the
# capital is "\b" before it).
_WORD4_RE = re.compile(r"\b[^\W\d_]{4}")
_CAP_WORD_RE = re.compile(r"[A-Z](?<!\w[A-Z])[^\W\d_]{3}")
_NEGATION_HINTS = ("no ", "nobody", "none", "no-one", "not ", "n't", "without")
# Whether a text range holds one of them: a plain find for "without", and one search for the
# others, all led by "n" (grouped after it, see _alternation). Led by that literal letter, the
# search skips ahead with a fast character scan; one led by the set of "n" and "w" tests the set
# at every position instead, about twice as slow as the two together.
_N_NEGATION_HINT_RE = re.compile(
    _alternation(*map(re.escape, (h for h in _NEGATION_HINTS if h != "without"))))
# "[.!?][.!?]*" rather than "[.!?]+": a leading character set lets the engine skip ahead.
_SENT_BREAK_RE = re.compile(r"[.!?][.!?]*[\"'”’)\]]*(?=\s+[\"“'‘(\[]?[A-Z0-9])")
# The same for a text without "!" and "?", where it matches the same: led by a literal "." the
# engine skips to the next full stop (a fast character scan) instead of testing a character set
# at every position.
_DOT_BREAK_RE = re.compile(r"\.[.!?]*[\"'”’)\]]*(?=\s+[\"“'‘(\[]?[A-Z0-9])")

# what follows a dated comparison ("the worst since the 2016 clashes") and tells of that earlier
# episode: ", when ...", ", in which ...", "that killed ..."
_WHEN_RE = re.compile(
    r",?\s*(?:when|in\s+which|during\s+which|which|that)\b", re.IGNORECASE)
_CLAUSE_END_RE = re.compile(r"[,.;:]")
_LONG_RUN_RE = re.compile(r"\b(?:years|months|decades|centuries)\b", re.IGNORECASE)
_YEAR_RE = re.compile(r"\b(?:19|20)\d\d\b")

_TRIAL_RE = re.compile(
    r"\b(?:trial|tribunal|sentenced|sentencing|convicted|conviction|verdict|jury|acquitted|"
    r"acquittal|imprisonment|testif(?:y|ied|ies)|court\s+(?:trying|martial|hearing)|"
    r"years\s+in\s+(?:prison|jail)|asked\s+(?:for\s+)?\d+\s+years)\b",
    re.IGNORECASE,
)
_RECORD_RE = re.compile(
    r"\b(?:carried\s+out|masterminded|(?:is|was|were|are|been)\s+(?:also\s+)?behind|"
    r"in\s+the\s+news\s+with|known\s+for|infamous\s+for)\b",
    re.IGNORECASE,
)
_EVENT_NOUNS = (r"(?:attacks?|blasts?|explosions?|bombings?|incidents?|clash(?:es)?|raids?|"
                r"ambush(?:es)?|strikes?|shootings?|violence|massacres?|riots?|crash(?:es)?|quake|"
                r"earthquake|storm|fire|operation|assault|incursion)")
# Before the trigger: "in retaliation for the deaths of", "a previous explosion injured",
# "a similar raid killed", "a week after a car bomb killed".
_BACKGROUND_RE = re.compile(
    r"\b(?:(?:reaction|response|retaliation|revenge|reprisal)s?\s+(?:to|for)|to\s+avenge|"
    r"(?:previous|earlier|prior|similar|last\s+week's|last\s+month's|last\s+year's)\s+"
    r"(?:[\w-]+\s+){0,2}?" + _EVENT_NOUNS + r"|"
    r"(?:a|one|two|three|four|five|six|several|few|\d+)\s+(?:days?|weeks?|months?|years?)\s+"
    r"after)\b",
    re.IGNORECASE,
)
_BACKGROUND_HINTS = ("reaction", "response", "retaliat", "revenge", "reprisal", "avenge",
                     "previous", "earlier", "prior", "similar", "last ", "after")
# Whether a text range holds one of them, or one of those _BACKGROUND_AFTER_RE needs: one search
# (over the short windows these are searched in, faster than one `in` test per hint).
_BACKGROUND_HINT_RE = re.compile(_alternation(*map(re.escape, _BACKGROUND_HINTS)))
_BACKGROUND_AFTER_HINT_RE = re.compile(_alternation("similar", "previous", "earlier", "prior"))
# After the trigger, in the same clause: "were killed in a similar attack".
_BACKGROUND_AFTER_RE = re.compile(
    r"[^,;.]{0,40}?\b(?:in|during)\s+(?:a|an|the)\s+(?:similar|previous|earlier|prior)\s+"
    r"(?:[\w-]+\s+){0,2}?" + _EVENT_NOUNS + r"\b",
    re.IGNORECASE,
)

_NEG_NOUN = (r"(?P<noun>casualties|casualty|injuries|injury|deaths|fatalities|dead|injured|"
             r"wounded|loss\s+of\s+(?:life|lives))")
_NEG_AUX = (r"(?:was|were|is|are|got|had|has|have|been|being|appears|appeared|to|believed|"
            r"reported|initially)")
# "none of those hurt ... sustained injuries" is not a negation: "none" needs an auxiliary.
# Each pattern starts with a letter, the word boundary before it checked right after it: after
# the letter X, (?<!\wX) is \b before X. The engine then jumps from one such letter to the
# next instead of trying every position (these match what "\bno...", "\b(?:no one|...|none...)"
# and "\b(?:did not|...|without)..." match, with the same groups).
_NEGATION_RES = (
    re.compile(
        r"n(?<!\wn)o(?:\s+(?:immediate|other|further|reported|initial|known|serious|major))?\s+"
        r"(?:reports?\s+of\s+(?:any\s+)?)?" + _NEG_NOUN
        + r"\b(?!\s+(?:to|among|of|in\s+the\s+ranks)\b)",
    ),
    re.compile(
        r"n(?<!\wn)(?:(?:o\s+one|o-one|obody)(?:\s+(?:else|other))?\s+(?:" + _NEG_AUX
        + r"\s+){0,3}"
        r"|one(?:\s+of\s+(?:them|those|the\s+\w+))?\s+(?:" + _NEG_AUX + r"\s+){1,3})"
        r"(?:\w+ly\s+)?(?P<v1>killed|hurt|injured|wounded|harmed|died|dead)"
        r"(?:\s+(?:or|and|nor)\s+(?P<v2>killed|hurt|injured|wounded|harmed))?\b",
    ),
    re.compile(
        r"(?:d(?<!\wd)(?:id\s+not|idn't|oes\s+not)|w(?<!\ww)ithout)\s+(?:caus\w+\s+"
        r"|result\w*\s+in\s+|leav\w+\s+)?(?:any\s+)?" + _NEG_NOUN
        + r"\b(?!\s+(?:to|among)\b)",
    ),
)
_NEG_KIND: dict[str, tuple[CasualtyKind, ...]] = {
    "casualties": ("killed", "injured"), "casualty": ("killed", "injured"),
    "injuries": ("injured",), "injury": ("injured",), "injured": ("injured",),
    "wounded": ("injured",), "hurt": ("injured",), "harmed": ("injured",),
    "deaths": ("killed",), "fatalities": ("killed",), "dead": ("killed",), "killed": ("killed",),
    "died": ("killed",),
}

# ---
# Internal data (never mutated once built; not `frozen`, which makes creating them ~5x slower)
# ---


@dataclass(slots=True)
class _Quantity:
    count: int
    high: int | None
    qualifier: Qualifier
    vague: bool
    article: bool  # "a"/"an": only a person noun makes it a count of one
    end: int  # token index after the quantity
    total_hint: bool  # "a total of"


@dataclass(slots=True)
class _Item:
    count: int
    high: int | None
    qualifier: Qualifier
    vague: bool
    lo: int  # token span [lo, hi)
    hi: int
    nouns: tuple[str, ...]
    total_hint: bool = False
    form: str = "num"  # num (a quantity), def ("the driver"), bare ("Taliban leader"), name, self


@dataclass(slots=True)
class _Cand:
    kind: CasualtyKind
    count: int
    high: int | None
    qualifier: Qualifier
    vague: bool
    negation: bool
    toll: bool
    category: str
    trig: int  # token index of the trigger
    lo: int  # token span of the whole phrase
    hi: int
    sent: int
    local_reason: str = ""
    current: bool = True
    reason: str = ""
    figure: CasualtyFigure | None = None  # built once judged (see _figure)


@dataclass(slots=True)
class _SentInfo:
    markers: tuple[tuple[int, int, str, str], ...]  # (start, end, kind, matched text), char offsets
    trial: str
    record: str
    has_recent: bool


# ---
# Document: tokens, sentences, headline, dateline
# ---


class _Doc:
    """The lines (paragraphs) that contain a casualty hint, split into sentences; only sentences
    that contain a hint are tokenised (tokens of all tokenised sentences share flat arrays)."""

    __slots__ = ("_chunks", "_dateline", "_end", "_info", "_title", "headline", "low",
                 "lowtext", "n", "raw", "relevant", "sent_of", "sents", "spans", "text")

    def __init__(self, text: str, lowtext: str, hints: list[int]) -> None:
        self.text = text
        self.lowtext = lowtext
        self.spans = spans = _split_sentences(text, hints)  # (char lo, char hi, paragraph)
        self.headline = _headline_flags(text, spans)
        chunks: list[str] = []  # each token with the whitespace before it
        sent_of: list[int] = []
        sents: list[tuple[int, int, int]] = []
        relevant: list[int] = []
        n_hints = len(hints)
        i = 0
        for s, (clo, chi, par) in enumerate(spans):
            lo = len(chunks)
            i = bisect_left(hints, clo, i)
            if i < n_hints and hints[i] < chi:
                relevant.append(s)
                found = _TOKEN_RE.findall(text, clo, chi)
                chunks += found
                sent_of += [s] * len(found)
            sents.append((lo, len(chunks), par))
        self.relevant = relevant
        # A token holds no whitespace (nor does its lower-casing): splitting the chunks joined
        # by spaces gives the tokens, one per chunk. One lower-casing for all of them:
        # whitespace, neither cased nor case-ignorable, keeps each token's lower-casing its own
        # (Greek final sigma included).
        joined = " ".join(chunks)
        self.raw = raw = joined.split()
        self.low = _lowercase(joined).split()
        self._chunks = chunks
        self._end: list[int] | None = None
        self.sent_of = sent_of
        self.sents = sents
        self.n = len(raw)
        self._info: dict[int, _SentInfo] = {}
        self._title: dict[int, bool] = {}
        self._dateline: tuple[tuple[int | None, int, int] | None, tuple[int, int]] | None = None

    @property
    def end(self) -> list[int]:
        """Char offset after each token (it starts at end - len(raw)). Built on first use, from
        the lengths of the chunks (whitespace included) of each sentence: a text without
        candidates and negation hints never needs it."""
        end = self._end
        if end is None:
            # One running sum over all the chunks, the first chunk of each sentence lengthened by
            # the gap from the end of the previous one: the chunks of a sentence cover it exactly
            # (the tokeniser skips only whitespace, and a sentence span is stripped).
            lens = list(map(len, self._chunks))
            sents = self.sents
            spans = self.spans
            prev = 0  # char offset after the previous tokenised sentence
            for s in self.relevant:
                a = sents[s][0]
                lo, hi, _ = spans[s]
                lens[a] += lo - prev
                prev = hi
            end = self._end = list(accumulate(lens))
        return end

    @property
    def dateline(self) -> tuple[int | None, int, int] | None:
        """(year or None, month, day) of the wire dateline, if the text opens with one."""
        if self._dateline is None:
            self._dateline = _find_dateline(self.text)
        return self._dateline[0]

    @property
    def dateline_span(self) -> tuple[int, int]:
        if self._dateline is None:
            self._dateline = _find_dateline(self.text)
        return self._dateline[1]

    def title_case(self, s: int) -> bool:
        """Headline-style capitalisation (or all caps): capitalised words are not names."""
        got = self._title.get(s)
        if got is None:
            sent = self.text[self.spans[s][0]:self.spans[s][1]]
            # at least 2 words and 70% of them capitalised: then at least 2 capitalised ones, and
            # with fewer the words need not be counted
            caps = len(_CAP_WORD_RE.findall(sent))
            got = caps >= 2 and caps >= 0.7 * len(_WORD4_RE.findall(sent))
            self._title[s] = got
        return got

    def start(self, t: int) -> int:
        """Char offset of token t."""
        return self.end[t] - len(self.raw[t])

    def sent_span(self, s: int) -> tuple[int, int]:
        return self.spans[s][0], self.spans[s][1]

    def info(self, s: int) -> _SentInfo:
        got = self._info.get(s)
        if got is None:
            got = _sentence_info(self, s)
            self._info[s] = got
        return got


# Most hints are found by one regex scan, each through a rare letter of it (its anchor: "j" of
# "injur", "x" of "execut"): the regex engine only stops at those letters instead of scanning the
# text once per hint. Each alternative starts at the anchor and checks the hint's other letters
# around it; it consumes the letters after the anchor only when none of them is an anchor letter
# (no stop is skipped), so every position that holds an anchor is tried; then every hint with
# that anchor letter is checked at the match (two can share one anchor: "slew" and "wound" in
# "slewound"). The other hints (no letter rare enough that stopping at it costs less than a scan
# of its own) are searched for one by one; "die " / "dies" / "died", "dead" / "death" and "drown"
# are found by one regex led by their common "d" (a literal first character: the engine's
# fastest scan), each match checked by what follows.
_ANCHORED_HINTS = (  # (hint, offset of its anchor letter)
    ("kill", 0), ("injur", 2), ("wound", 0), ("casualt", 0), ("lives", 2), ("bodies", 0),
    ("corpses", 0), ("murder", 0), ("massacr", 0), ("slew", 3), ("execut", 1), ("perish", 0),
    ("fatalit", 0), ("maim", 0), ("harm", 3), ("unaccounted", 3), ("buried", 0),
    ("loss of li", 6), ("missing", 0),
)
_STEM_HINTS = ("die ", "dies", "died", "dead", "death", "drown")
_STEM_RE = re.compile(r"d(?=ie[ sd]|ea(?:d|th)|rown)")
_BY_ANCHOR: dict[str, tuple[tuple[str, int], ...]] = {}
for _hint, _off in _ANCHORED_HINTS:
    _BY_ANCHOR[_hint[_off]] = (*_BY_ANCHOR.get(_hint[_off], ()), (_hint, _off))


def _anchored(hint: str, off: int) -> str:
    """The alternative for a hint, after its anchor letter."""
    rest = re.escape(hint[off + 1:])
    return ((f"(?<={re.escape(hint[:off + 1])})" if off else "")  # checked after the anchor
            + (rest if _BY_ANCHOR.keys().isdisjoint(hint[off + 1:]) else f"(?={rest})"))


_ANCHOR_RE = re.compile("|".join(
    re.escape(letter) + "(?:" + "|".join(
        _anchored(h, off)
        for h, off in sorted(hints, key=lambda ho: ho[1] > 0)  # (those led by a literal first)
    ) + ")"
    for letter, hints in _BY_ANCHOR.items()
))
_PLAIN_HINTS = tuple(h for h in _HINTS if h not in _STEM_HINTS and h not in dict(_ANCHORED_HINTS))


def _shared_start(words: tuple[str, ...]) -> str:
    start = words[0]
    while not all(w.startswith(start) for w in words):
        start = start[:-1]
    return start


# The plain hints grouped by their first three letters, each group with the start its hints share
# ("sla" for "slain" and "slay"): one scan tells whether any of them occurs.
_PLAIN_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (_shared_start(group), group)
    for group in (tuple(h for h in _PLAIN_HINTS if h[:3] == start)
                  for start in dict.fromkeys(h[:3] for h in _PLAIN_HINTS))
)


def _hint_positions(lowtext: str) -> list[int]:
    """Sorted start offsets of every casualty hint in the lower-cased text."""
    found: list[int] = []
    for m in _ANCHOR_RE.finditer(lowtext):
        anchor = m.start()
        for hint, off in _BY_ANCHOR[lowtext[anchor]]:
            pos = anchor - off
            if pos >= 0 and lowtext.startswith(hint, pos):
                found.append(pos)
    for start, hints in _PLAIN_GROUPS:
        if start not in lowtext:
            continue
        for hint in hints:
            pos = lowtext.find(hint)
            while pos != -1:
                found.append(pos)
                pos = lowtext.find(hint, pos + 1)
    found.extend(map(re.Match.start, _STEM_RE.finditer(lowtext)))
    found.sort()
    return found


def _split_sentences(text: str, hints: list[int]) -> list[tuple[int, int, int]]:
    """(start, end, paragraph) of each sentence of the lines (paragraphs) that hold a casualty
    hint, up to the last sentence with a hint; paragraph numbers count every line. Lines without
    a hint are never analysed, so they are not split; nor is the rest of a line after its last
    hint (a sentence without a hint matters only for the sentences after it in its paragraph,
    which inherit its time expression)."""
    spans: list[tuple[int, int, int]] = []
    breaks = _SENT_BREAK_RE if "!" in text or "?" in text else _DOT_BREAK_RE
    par = 0  # the paragraph number of `pos`
    pos = 0  # start of the first line not yet split
    i = 0  # the first hint not in a line already split
    while i < len(hints):
        h = hints[i]
        nl = text.rfind("\n", pos, h)
        lo = pos if nl == -1 else nl + 1  # the start of the line holding the hint
        par += text.count("\n", pos, lo)
        hi = text.find("\n", h)
        end = len(text) if hi == -1 else hi
        # (a hint starts with a letter, never at a line break: the next hint is past this line;
        # should offsets ever be wrong, still one hint further, never a loop without end)
        i = max(bisect_left(hints, end, i), i + 1)
        _split_line(text, lo, end, hints[i - 1], par, spans, breaks)
        if hi == -1:
            break
        par += 1
        pos = hi + 1
    return spans


def _push(text: str, a: int, b: int, par: int, spans: list[tuple[int, int, int]]) -> None:
    seg = text[a:b]
    stripped = seg.strip()
    if stripped:
        a2 = a + (len(seg) - len(seg.lstrip()))
        spans.append((a2, a2 + len(stripped), par))


def _split_line(text: str, lo: int, hi: int, last: int, par: int,
                spans: list[tuple[int, int, int]], breaks: re.Pattern[str]) -> None:
    """The sentences of text[lo:hi] up to the one holding offset `last`."""
    start = lo
    for m in breaks.finditer(text, lo, hi):  # _SENT_BREAK_RE or its equal _DOT_BREAK_RE
        if m.group() == ".":
            k = text.rfind(" ", start, m.start()) + 1
            word = text[max(k, start):m.start()]
            if _str_lower(word) in _ABBREVIATIONS or (len(word) <= 4 and "." in word) or (
                    len(word) == 1 and word.isalpha()):
                continue  # "Oct. 6", "U.S. troops", "Donald H. Rumsfeld"
        _push(text, start, m.end(), par, spans)
        start = m.end()
        if start > last:
            return
    _push(text, start, hi, par, spans)


def _headline_flags(text: str, spans: list[tuple[int, int, int]]) -> list[bool]:
    """The first line of a multi-line text is a headline when it has no final full stop."""
    if not spans or spans[0][2] != 0:
        return [False] * len(spans)  # the first line is not analysed (or is empty)
    nl = text.find("\n")
    rest = text[nl + 1:] if nl != -1 else ""
    if not rest or rest.isspace():
        return [False] * len(spans)  # a single line
    line = text[:nl].strip().rstrip("\"'”’ ")
    headline = bool(line) and line[-1] not in ".!?" and len(line) <= 200
    return [headline and sp[2] == 0 for sp in spans]


def _month(word: str) -> int | None:
    return _MONTHS.get(_str_lower(word).rstrip("."))


def _parse_date(m: re.Match[str]) -> tuple[int | None, int, int | None] | None:
    """(year or None, month, day or None) from a _DATE_RE match."""
    if m.group("m1"):
        if m.group("m1") == "may":  # the modal verb, not the month
            return None
        month = _month(m.group("m1"))
        day: int | None = int(m.group("d1"))
        ytxt = m.group("y1")
    elif m.group("m2"):
        if m.group("m2") == "may":
            return None
        month = _month(m.group("m2"))
        day = int(m.group("d2"))
        ytxt = m.group("y2")
    elif m.group("m3"):
        month = _month(m.group("m3"))
        day = None
        ytxt = m.group("y3")
    else:
        if m.group("m4") == "may":
            return None
        month = _month(m.group("m4"))
        day = None
        ytxt = None
    if month is None or (day is not None and not 1 <= day <= 31):
        return None
    year: int | None = None
    if ytxt:
        year = int(ytxt)
        if year < 100:
            year += 1900 if year >= 30 else 2000
    return year, month, day


def _at_line_starts(rx: re.Pattern[str], text: str) -> Iterator[re.Match[str]]:
    """``rx.finditer(text)`` for a pattern that matches only at the start of a line (``(?m)^``):
    the match is tried at each line start instead of at every offset (each try fails at once
    elsewhere, but there are hundreds of them)."""
    pos = 0
    while True:
        m = rx.match(text, pos)
        if m is not None:
            yield m
            pos = m.end()  # (never empty) where finditer goes on
            if text[pos - 1] == "\n":
                continue  # a line start
        nl = text.find("\n", pos)
        if nl == -1:
            return
        pos = nl + 1


def _find_dateline(text: str) -> tuple[tuple[int | None, int, int] | None, tuple[int, int]]:
    """The date of the report when the text opens with a wire dateline ("CITY, 2 Oct (AFP) --",
    "CITY, Country (March 12, 2011) -")."""
    head = text[:400]
    best: tuple[int, tuple[int | None, int, int], tuple[int, int]] | None = None
    for matches in (_DATELINE_RES[0].finditer(head), _at_line_starts(_DATELINE_RES[1], head)):
        for m in matches:
            dm = _DATE_RE.fullmatch(m.group("date").strip())
            if dm is None:
                continue
            parsed = _parse_date(dm)
            if parsed is None:
                continue
            year, month, day = parsed
            if day is None:
                continue
            if best is None or m.start() < best[0]:
                best = (m.start(), (year, month, day), (m.start("date"), m.end("date")))
            break
    if best is None:
        return None, (0, 0)
    return best[1], best[2]


def _days_before(dateline: tuple[int | None, int, int], year: int | None, month: int,
                 day: int | None) -> int | None:
    """How many days before the dateline a date lies (negative: after it)."""
    dl_year, dl_month, dl_day = dateline
    ref_year = dl_year if dl_year is not None else 2000
    if year is None:
        # The nearest such date to the dateline.
        candidates = [ref_year - 1, ref_year, ref_year + 1]
    else:
        if dl_year is None:
            return None
        candidates = [year]
    best: int | None = None
    for y in candidates:
        try:
            d = date(y, month, day if day is not None else 28 if month == 2 else 30)
            ref = date(ref_year, dl_month, dl_day)
        except ValueError:
            continue
        delta = (ref - d).days
        if best is None or abs(delta) < abs(best):
            best = delta
    return best


def _sentence_info(doc: _Doc, s: int) -> _SentInfo:
    """Time expressions of sentence s (with char offsets), and trial / past-record cues."""
    lo_char, hi_char, _ = doc.spans[s]
    lsent = doc.lowtext[lo_char:hi_char]
    a_tok, b_tok, _ = doc.sents[s]
    # the sentence's words that the guards below look for (one pass over its words): a guard set
    # is disjoint from the sentence's words when it is disjoint from these
    words = _INFO_WORDS.intersection(
        doc.low[a_tok:b_tok] if b_tok > a_tok else _WORD_RE.findall(lsent))
    has_digits = "19" in lsent or "20" in lsent
    if not words and not has_digits:
        return _NO_INFO  # every guard below fails: no time expression, trial or record
    sent = doc.text[lo_char:hi_char]
    found: list[tuple[int, int, int, str, str]] = []  # (priority, start, end, kind, text)
    any_marker = has_digits or not _MARKER_WORDS.isdisjoint(words)
    for prio, (kind, guards, rx) in enumerate(_MARKER_PATTERNS if any_marker else ()):
        if (guards.isdisjoint(words)) if guards else not has_digits:
            continue
        for m in rx.finditer(lsent):
            a = m.start()
            prev = lsent[a - 1] if a else " "
            if prev.isalnum() or (kind == "year" and prev in ",.$#-"):
                continue  # not at a word start
            if kind == "recent" and sent[a] == "T" and sent[a + 1:a + 2].islower() and a > 0 \
                    and not lsent.startswith(("tuesday", "thursday"), a) \
                    and not doc.title_case(s):
                continue  # "... Today" inside a title such as "Gulf Today": a name (a weekday
                # is capitalised anyway)
            if kind == "rate" and lsent[a] in "ae":
                before = lsent[max(0, a - 12):a].split()
                if before and before[-1] in _NOT_RATE_BEFORE:
                    continue
            found.append((prio, a + lo_char, m.end() + lo_char, kind, sent[a:m.end()]))
    months = () if _MONTH_WORDS.isdisjoint(words) else _MONTH_WORD_RE.finditer(lsent)
    for mw in months:
        if mw.group() not in _MONTHS:
            continue
        w_lo, w_hi = max(0, mw.start() - 12), min(len(sent), mw.end() + 14)
        if _DIGIT_RE.search(sent, w_lo, w_hi) is None and \
                "in" not in lsent[max(0, w_lo - 3):mw.start()]:
            continue  # a date holding the month word has a digit or "in" before it: none here
        for m in _DATE_RE.finditer(sent, w_lo, w_hi):
            if m.start() <= mw.start() < m.end():
                found.append((len(_MARKER_PATTERNS), m.start() + lo_char, m.end() + lo_char,
                              "date", m.group()))
    found.sort()
    kept: list[tuple[int, int, str, str]] = []
    dated = False
    for _, a, b, kind, matched in found:
        for ka, kb, _, _ in kept:
            if a < kb and b > ka:
                break
        else:
            kept.append((a, b, kind, matched))
            dated = dated or kind in ("year", "date")
    markers: list[tuple[int, int, str, str]] = []
    masks: list[tuple[int, int]] = []
    dl_lo, dl_hi = doc.dateline_span if dated else (0, 0)
    for a, b, kind, matched in kept:
        if a < dl_hi and b > dl_lo:
            continue  # the dateline itself
        if kind == "sup":
            # "the deadliest since 2008": a comparison, not the time of this incident; but
            # "..., when a truck bomb killed 30" or "..., in which 90 people were killed"
            # refers to that earlier time.
            masks.append((a, b))
            when = _WHEN_RE.match(sent, b - lo_char)
            if when and _YEAR_RE.search(matched):
                markers.append((when.start() + lo_char, when.end() + lo_char, "hist", matched))
        elif kind == "since":
            # "since tanks rolled in ...": the running total of an ongoing episode; but
            # "since it was identified in 1981" is a long-run aggregate.
            stop = _CLAUSE_END_RE.search(sent, b - lo_char)
            clause_end = (stop.start() if stop else len(sent)) + lo_char
            masks.append((b, clause_end))
            clause = doc.text[b:clause_end]
            long_run = _YEAR_RE.search(clause) or _LONG_RUN_RE.search(clause)
            markers.append((a, b, "agg" if long_run else "recent", matched + clause))
        elif kind == "year":
            dl = doc.dateline
            if dl is not None and dl[0] is not None and int(matched) >= dl[0]:
                continue
            markers.append((a, b, "hist", matched))
        elif kind == "date":
            dm = _DATE_RE.fullmatch(matched)
            parsed = _parse_date(dm) if dm else None
            if parsed is None or dm is None:
                continue
            year, month, day = parsed
            if doc.dateline is not None:
                delta = _days_before(doc.dateline, year, month, day)
                if delta is None:
                    continue
                if delta > 8:
                    markers.append((a, b, "hist", matched))
                elif delta >= -1:
                    markers.append((a, b, "recent", matched))
            elif year is not None or (day is not None and dm.group("pre")) or dm.group("m4"):
                # Without a dateline, a calendar date marks an event more than a week old
                # (news style names the weekday for the past week).
                markers.append((a, b, "hist", matched))
        else:
            markers.append((a, b, kind, matched))
    if masks:
        markers = [mk for mk in markers if not any(ma <= mk[0] < mb for ma, mb in masks)]
    markers.sort()
    trial = None if _TRIAL_HINTS.isdisjoint(words) else _TRIAL_RE.search(sent)
    record = None if _RECORD_HINTS.isdisjoint(words) else _RECORD_RE.search(sent)
    # positional (faster than keywords): markers, trial, record, has_recent
    return _SentInfo(
        tuple(markers), trial.group() if trial else "", record.group() if record else "",
        any(mk[2] == "recent" for mk in markers),
    )


_NO_INFO = _SentInfo((), "", "", False)  # shared: a _SentInfo is never mutated


# ---
# Quantities and noun phrases
# ---


# Number words up to ninety-nine ("seven", "forty", "twenty-five").
_SMALL_NUMBERS: dict[str, int] = {
    **_UNITS, **_TENS,
    **{f"{t}-{u}": tv + uv for t, tv in _TENS.items() for u, uv in _UNITS.items() if 0 < uv < 10},
}


def _is_year_token(raw: str) -> bool:
    return len(raw) == 4 and raw.isdigit() and 1900 <= int(raw) <= 2099


# No casualty count is larger: a bigger number in a text is something else (or garbage), and
# every count fits a 32-bit integer column (`Store.add_articles`, `Store.save_tolls`).
MAX_COUNT = 1_000_000_000


def _parse_number(doc: _Doc, i: int, hi: int) -> tuple[int, int | None, int] | None:
    """(value, high for a range token like "10-12", next index) for digits or number words."""
    low = doc.low
    if i >= hi or i >= len(low):  # e.g. a text ending in "killed between"
        return None
    w = low[i]
    if w[0].isdigit():
        try:
            got = _parse_digits(doc, i, hi, w)
        except (ValueError, OverflowError):
            # thousands of digits (int() refuses more than 4,300), or a decimal count of
            # millions past a float's range: not a casualty count
            return None
        if got is not None and max(got[0], got[1] or 0) > MAX_COUNT:
            return None
        return got
    if w not in _SMALL_NUMBERS:
        return None  # number words start with one up to ninety-nine
    total = 0
    cur = 0
    j = i
    last = ""
    while j < hi:
        w = low[j]
        v = _SMALL_NUMBERS.get(w)
        if v is not None:
            if last == "tens" and v < 10 and cur % 10 == 0:
                cur += v
                last = "small"
            elif last in ("", "scale", "and"):
                cur += v
                last = "tens" if v >= 20 and v % 10 == 0 and "-" not in w else "small"
            else:
                break
        elif w in _SCALES and last in ("small", "tens"):
            if w == "hundred":
                cur *= 100
            else:
                total += cur * _SCALES[w]
                cur = 0
            last = "scale"
        elif (w == "and" and last == "scale" and j + 1 < hi
              and low[j + 1] in _SMALL_NUMBERS):
            last = "and"
        else:
            break
        j += 1
    if j == i or total + cur > MAX_COUNT:
        return None
    return total + cur, None, j


_QUALIFIERS_BY_FIRST: dict[str, list[tuple[tuple[str, ...], Qualifier]]] = {}
for _seq, _q in _QUALIFIERS:
    _QUALIFIERS_BY_FIRST.setdefault(_seq[0], []).append((_seq, _q))
_VAGUE_BY_FIRST: dict[str, list[tuple[tuple[str, ...], int]]] = {}
for _vseq, _lower in _VAGUE_PHRASES:
    _VAGUE_BY_FIRST.setdefault(_vseq[0], []).append((_vseq, _lower))


# Words that can end the quantity part of a counted phrase ("a", "dozen", "several", "of the").
_ITEM_END = _ITEM_START | _words("of those them these whom which dozen hundred thousand million")
# The same with every number word, and the words that never are nouns of a counted phrase.
_ITEM_START_WORDS = _ITEM_START | frozenset(_SMALL_NUMBERS)
_ITEM_END_WORDS = _ITEM_END | frozenset(_SMALL_NUMBERS)
_NOT_NOUN_WORDS = _NOT_NOUN | frozenset(w for w in _SMALL_NUMBERS if "-" in w)
# Words that can begin a quantity (besides digits): see _parse_quantity.
_QUANTITY_START = (
    frozenset(_QUALIFIERS_BY_FIRST) | frozenset(_SMALL_NUMBERS) | frozenset(_VAGUE_BY_FIRST)
    | frozenset(_VAGUE_WORDS) | _words("between a an one another both half")
)


def _parse_digits(doc: _Doc, i: int, hi: int, w: str) -> tuple[int, int | None, int] | None:
    """_parse_number of a token starting with a digit (``w``, its lower case)."""
    low = doc.low
    if _DIGITS_RE.fullmatch(w):
        if _is_year_token(doc.raw[i]):
            return None
        if i + 1 < len(low) and (low[i + 1] in (":", "a.m.", "p.m.", "am", "pm", "%", "percent")
                                 or (i >= 1 and low[i - 1] in ("#", "$", "£", "€"))):
            return None  # a clock time, a percentage, money
        value = int(w.replace(",", ""))
        j = i + 1
        if j < hi and low[j] in ("thousand", "million"):
            value *= _SCALES[low[j]]
            j += 1
        return value, None, j
    rm = _DIGIT_RANGE_RE.fullmatch(w)
    if rm:
        a, b = int(rm.group(1)), int(rm.group(2))
        if a < b:
            return a, b, i + 1
        return None
    if _DECIMAL_RE.fullmatch(w) and i + 1 < hi and low[i + 1] in ("thousand", "million"):
        return int(float(w) * _SCALES[low[i + 1]]), None, i + 2
    return None


def _match_seq(low: list[str], i: int, hi: int, seq: tuple[str, ...]) -> bool:
    n = len(seq)
    # the second word first: callers have mostly checked the first, and most fail at the second
    return i + n <= hi and (n < 2 or low[i + 1] == seq[1]) and tuple(low[i:i + n]) == seq


def _parse_quantity(doc: _Doc, i: int, hi: int) -> _Quantity | None:
    low = doc.low
    if i >= hi:
        return None
    w = low[i]
    if w not in _QUANTITY_START and not w[0].isdigit():
        return None
    qualifier: Qualifier = "exact"
    total_hint = False
    j = i
    for seq, q in _QUALIFIERS_BY_FIRST.get(low[i], ()):
        if _match_seq(low, i, hi, seq):
            k = i + len(seq)
            if k < hi and (low[k][0].isdigit() or low[k] in _SMALL_NUMBERS
                           or low[k] in ("a", "dozen")):
                qualifier = q
                total_hint = seq == ("a", "total", "of")
                j = k
            break
    if j >= hi:
        return None
    w = low[j]
    if w == "between":
        n1 = _parse_number(doc, j + 1, hi)
        if n1 and n1[2] < hi and low[n1[2]] == "and":
            n2 = _parse_number(doc, n1[2] + 1, hi)
            if n2 and n2[0] > n1[0]:
                return _Quantity(n1[0], n2[0], "range", False, False, n2[2], False)
        return None
    num = _parse_number(doc, j, hi)
    if num is not None:
        value, high, k = num
        if high is not None:
            return _Quantity(value, high, "range", False, False, k, total_hint)
        if k + 1 < hi and low[k] in ("to", "-", "–", "or"):
            n2 = _parse_number(doc, k + 1, hi)
            if n2 and n2[1] is None and n2[0] > value:
                return _Quantity(value, n2[0], "range", False, False, n2[2], total_hint)
        if k < hi and low[k] == "dozen":
            value *= 12
            k += 1
        return _Quantity(value, None, qualifier, False, False, k, total_hint)
    if qualifier != "exact" or total_hint:
        # "a dozen" after a qualifier
        if low[j] == "a" and j + 1 < hi and low[j + 1] == "dozen":
            return _Quantity(12, None, qualifier, False, False, j + 2, total_hint)
        return None
    if w in ("a", "an", "one"):
        if j + 1 < hi:
            nxt = low[j + 1]
            if nxt == "dozen":
                return _Quantity(12, None, "exact", False, False, j + 2, False)
            if nxt in ("hundred", "thousand"):
                return _Quantity(_SCALES[nxt], None, "exact", False, False, j + 2, False)
        for seq, lower in _VAGUE_BY_FIRST.get(w, ()):
            if _match_seq(low, j, hi, seq):
                return _Quantity(lower, None, "vague", True, False, j + len(seq), False)
        return _Quantity(1, None, "exact", False, True, j + 1, False)
    if w == "another":
        return _Quantity(1, None, "exact", False, False, j + 1, False)
    if w == "both":
        return _Quantity(2, None, "exact", False, False, j + 1, False)
    if w == "half" and _match_seq(low, j + 1, hi, ("a", "dozen")):
        return _Quantity(6, None, "exact", False, False, j + 3, False)
    for seq, lower in _VAGUE_BY_FIRST.get(w, ()):
        if _match_seq(low, j, hi, seq):
            return _Quantity(lower, None, "vague", True, False, j + len(seq), False)
    if w in _VAGUE_WORDS:
        k = j + 1
        if k < hi and low[k] == "of":
            k += 1
            if k < hi and low[k] in ("the", "those", "them", "these"):
                k += 1
        return _Quantity(_VAGUE_WORDS[w], None, "vague", True, False, k, False)
    return None


def _is_noun(w: str) -> bool:
    """Whether a (lower-cased) token can be a noun or modifier of a counted phrase."""
    return w[0].isalpha() and w not in _NOT_NOUN_WORDS and not (w.endswith("ing") and len(w) > 5)


def _is_noun_word(doc: _Doc, k: int) -> bool:
    return _is_noun(doc.low[k])


def _noun_run(doc: _Doc, k: int, hi: int, limit: int, digits: bool) -> tuple[tuple[str, ...], int]:
    """The nouns from token k on (at most `limit`; with `digits`, digit tokens too)."""
    low = doc.low
    first = k
    stop = min(hi, k + limit)
    while k < stop:
        w = low[k]
        if _is_noun(w) or (digits and w[0].isdigit() and k + 1 < hi):
            k += 1
        else:
            break
    return tuple(low[first:k]), k


def _is_demonym(raw: str) -> bool:
    if not raw[:1].isupper():
        return False
    w = _str_lower(raw)
    return w in _DEMONYM_SG or w.endswith(("ian", "ans", "an", "ese", "i", "is"))


def _is_person(doc: _Doc, k: int) -> bool:
    w = doc.low[k]
    if w in _PERSON_SG or w in _PERSON_PL:
        return True
    if w.endswith(("man", "men")) and len(w) > 5 and w not in _NONPERSON:
        return True
    return _is_demonym(doc.raw[k])


def _is_person_singular(doc: _Doc, k: int) -> bool:
    w = doc.low[k]
    if w in _PERSON_SG or w in _DEMONYM_SG:
        return True
    if w.endswith(("man", "woman")) and len(w) > 5:
        return True
    return _is_demonym(doc.raw[k]) and not w.endswith("s")


def _category(nouns: tuple[str, ...]) -> str:
    for w in reversed(nouns):
        if w in _CIVILIAN:
            return "civilian"
        if w in _SECURITY:
            return "security"
        if w in _COMBATANT:
            return "combatant"
    return "generic"


def _name_run(doc: _Doc, i: int, hi: int) -> int:
    """End of a run of 2-5 capitalised words starting at i (a personal name), or i."""
    k = i
    while k < hi and k - i < 5:
        r = doc.raw[k]
        if r[0].isupper() and r[0].isalpha() and doc.low[k] not in _FUNCTION:
            k += 1
        else:
            break
    return k if k - i >= 2 else i


def _not_people(nouns: tuple[str, ...]) -> bool:
    """"four rockets", "the 3 climbers' guide": the number does not count the victims."""
    return any(n in _NONPERSON or n.endswith(("'s", "’s", "s'", "s’")) for n in nouns)


def _parse_item(doc: _Doc, i: int, hi: int, obj: bool) -> _Item | None:
    """One counted noun phrase starting at token i: "three Afghan civilians", "an elderly man",
    "the 1,500", "himself", and in object position "Taliban leader" or a personal name."""
    if i >= hi:
        return None
    low = doc.low
    w = low[i]
    if w in ("himself", "herself"):
        return _Item(1, None, "exact", False, i, i + 1, ("self",), form="self")
    if w in ("the", "his", "her", "their", "its"):
        q = _parse_quantity(doc, i + 1, hi)
        if q is not None and not q.article and not q.vague:
            nouns, k = _noun_run(doc, q.end, hi, 4, False)
            if _not_people(nouns):
                return None
            return _Item(q.count, q.high, q.qualifier, False, i, k, nouns)
        if q is None:
            nouns, k = _noun_run(doc, i + 1, hi, 4, True)
            if nouns and _is_person_singular(doc, k - 1):
                return _Item(1, None, "exact", False, i, k, nouns, form="def")
        return None
    # _parse_quantity's own first test, saving the call for most words
    q = _parse_quantity(doc, i, hi) if w in _QUANTITY_START or w[0].isdigit() else None
    if q is not None:
        k = q.end
        form = "num"
        if not q.vague and k < hi and low[k] == "of" and not q.article:
            # "three of the victims": the partitive head is the count
            form = "part"
            k += 1
            if k < hi and low[k] in ("the", "those", "them", "these", "whom", "which"):
                k += 1
        nouns, k = _noun_run(doc, k, hi, 4, q.article)
        if _not_people(nouns):
            return None
        if q.article:
            if nouns and nouns[0] in _ORDINALS and not (k < hi and low[k] == "of"):
                return _Item(1, None, "exact", False, i, k, nouns, form="num")  # "a third"
            if not nouns or not _is_person(doc, k - 1):
                return None
        elif nouns and nouns[0] in ("year-old", "years", "year"):
            return None
        return _Item(q.count, q.high, q.qualifier, q.vague, i, k, nouns, q.total_hint, form)
    if obj:
        if doc.raw[i][0].isalpha() and w not in _NOT_NOUN:
            nouns, k = _noun_run(doc, i, hi, 4, False)
            if nouns and _is_person_singular(doc, k - 1) and not (
                k < hi and doc.raw[k][0].isupper() and not doc.title_case(doc.sent_of[i])
            ):
                return _Item(1, None, "exact", False, i, k, nouns, form="bare")
        k = _name_run(doc, i, hi)
        if k > i and not doc.title_case(doc.sent_of[i]):
            return _Item(1, None, "exact", False, i, k, ("name",), form="name")
    return None


def _separator(doc: _Doc, k: int, hi: int) -> int | None:
    low = doc.low
    if k >= hi:
        return None
    w = low[k]
    if w == ",":
        if k + 1 < hi and low[k + 1] == "and":
            return k + 2
        return k + 1
    if w in ("and", "plus"):
        return k + 1
    if w in ("along", "together") and k + 1 < hi and low[k + 1] == "with":
        return k + 2
    if w == "as" and _match_seq(low, k, hi, ("as", "well", "as")):
        return k + 3
    return None


def _skip_appositive(doc: _Doc, it: _Item, hi: int) -> int:
    """Skip an appositive after a single named or singular person: ", Ahmad Shah," or
    ", a teacher at the school," (not another victim)."""
    k = it.hi
    low = doc.low
    if it.form not in ("bare", "name", "def") or k >= hi or low[k] != ",":
        return k
    j = k + 1
    if j < hi and low[j][0].isdigit() and len(low[j]) <= 3 and (j + 1 >= hi or low[j + 1] in (
            ",", ".", ";", ")", "and", "was", "were", "is", "had", "has", "who")):
        return j + 1  # "the boy, 3," / "a man, 35,": an age
    if it.form == "name" and j < hi and low[j] in ("a", "an", "the", "his", "her"):
        j += 1
        while j < hi and low[j] not in (",", ".", ";", "and", "along", "as", "together"):
            j += 1
        return j
    while j < hi and j - k <= 5 and doc.raw[j][0].isupper():
        j += 1
    if j > k + 1 and j < hi and low[j] == ",":
        nxt = _separator(doc, j + 1, hi)
        if nxt is not None and low[j + 1] in ("along", "together", "as"):
            return j + 1
    return k


def _object_enum(doc: _Doc, i: int, hi: int, counted: bool = False) -> list[_Item] | None:
    """Counted noun phrases from token i on, coordinated rightwards ("a professor, a policeman,
    and a driver", "himself and a girl", "the leader, X, along with one other fighter")."""
    items: list[_Item] = []
    k = i
    while True:
        it = _parse_item(doc, k, hi, True)
        if it is None or (counted and it.form in ("bare", "name")):
            break
        if items:
            first = items[0].form
            if it.form == "name" and first != "name":
                break  # "two soldiers, John Smith said"
            if it.form == "num" and first in ("name", "bare", "def") and \
                    doc.low[k - 1] == ",":
                break  # "John Smith, 35": an age
            if it.form == "part":
                break  # "27, six of them seriously": a subset
            if it.hi < hi and doc.low[it.hi] in _SPEECH_VERBS:
                break  # "..., a police official said"
        items.append(it)
        k = _skip_appositive(doc, it, hi)
        sep = _separator(doc, k, hi)
        if sep is None:
            break
        k = sep
    if items and items[-1].form == "name" and len(items) > 1 and items[-1].hi < hi \
            and doc.low[items[-1].hi] in _SPEECH_VERBS:
        items.pop()
    return items or None


def _is_age(doc: _Doc, s: int, lo: int) -> bool:
    """Numbers after "aged" / "ages", possibly coordinated: "ages 12 and 16"."""
    low = doc.low
    if not low[s][0].isdigit():
        return False
    k = s - 1
    while k >= lo and s - k <= 6:
        w = low[k]
        if w in ("aged", "ages", "age"):
            return True
        if w == "," and k - 1 >= lo and (low[k - 1] in _PERSON_SG or low[k - 1] in _PERSON_PL):
            # "four girls, 11 and 13" - but not "Of the 40 passengers, 12 ..."
            return "of" not in low[max(lo, k - 5):k - 1]
        if not (w[0].isdigit() or w in ("and", ",", "to", "between")):
            return False
        k -= 1
    return False


def _item_ending_at(doc: _Doc, end: int, lo: int) -> _Item | None:
    """The counted noun phrase that ends just before token `end` (subject position)."""
    low = doc.low
    k = end - 1
    while k >= lo and end - k <= 5 and _is_noun(low[k]):
        k -= 1  # step over the nouns: "three Afghan civilians" -> "three"
    if k < lo:
        return None
    w = low[k]
    if w not in _ITEM_END_WORDS and not w[0].isdigit():
        return None  # "police killed", "the factory exploded": no quantity
    for s in range(max(lo, k - 6), k + 1):
        w = low[s]
        if w not in _ITEM_START_WORDS and not w[0].isdigit():
            continue
        it = _parse_item(doc, s, end, False)
        if it is not None and it.hi == end:
            before = doc.low[s - 1] if s - 1 >= lo else ""
            if _is_age(doc, s, lo):
                return None
            if before in ("from", "including", "than", "no"):
                return None  # superseded figure, subset, comparison, "no one"
            if before == "of" and (s - 2 < lo or doc.low[s - 2] in _PARTITIVE_HEADS
                                   or doc.low[s - 2] in (",", "among")):
                return None  # "one of two hostages ...", "Of the 40 passengers, 12 ...": a set
            return it
    return None


def _skip_subset(doc: _Doc, last: int, lo: int) -> int:
    """Step over a parenthetical subset before the verb: "Eleven people, including four
    children, were killed", "Seven people, six of them children, died" -> the subject ends
    before the parenthesis."""
    low = doc.low
    if last < lo or low[last] != ",":
        return last
    k = last - 1
    subset = False
    while k > lo and last - k < 12:
        w = low[k]
        if w in ("including", "among", "mostly", "mainly") or (
            w == "of" and k + 1 < last and low[k + 1] in ("them", "whom", "those")
        ):
            subset = True
        if w in (";", ".", "(", ")"):
            return last
        if w == ",":
            return k - 1 if subset else last
        k -= 1
    return last


_AGE_WORDS = frozenset(("and", ",", "to", "ages", "aged", "age", "between"))


def _skip_ages(doc: _Doc, last: int, lo: int) -> int:
    """Step left over an age appositive: "two brothers, 17 and 19," / "three nurses, ages 41 and
    58" -> the phrase ends at "brothers" / "nurses"."""
    low = doc.low
    k = last - 1 if last >= lo and low[last] == "," else last
    j = k
    digits = False
    while j >= lo and (low[j][0].isdigit() or low[j] in _AGE_WORDS):
        digits = digits or low[j][0].isdigit()
        j -= 1
    closed = k != last  # "John Smith, 25, was": a closed appositive after a name
    if digits and j >= lo and j < k and low[j + 1] == "," and (
            _is_person(doc, j) or (closed and doc.raw[j][:1].isupper())) and \
            "of" not in low[max(lo, j - 4):j]:
        return j
    return last


def _subject_enum(doc: _Doc, last: int, lo: int) -> list[_Item] | None:
    """Counted noun phrases ending at token `last`, coordinated leftwards
    ("Four policemen and one officer", "Nine tourists, two drivers and a guide")."""
    items: list[_Item] = []
    end = last + 1
    low = doc.low
    # each phrase is parsed once: the one found before a separator is the next one taken
    it = _item_ending_at(doc, _skip_ages(doc, end - 1, lo) + 1, lo) if end > lo else None
    while it is not None:
        items.append(it)
        k = it.lo - 1  # the separator before this phrase: "and", ", and" or ","
        if k >= lo and low[k] == "and":
            k -= 1
        if k < lo or (low[k] != "," and low[k + 1] != "and"):
            break
        end = k + 1
        if low[k] == ",":
            # keep the comma in view: "Jane Roe, 47, and ..." is an age appositive
            skipped = _skip_ages(doc, k, lo)
            end = skipped + 1 if skipped != k else k
        if end <= lo:
            break
        it = _item_ending_at(doc, _skip_ages(doc, end - 1, lo) + 1, lo)
    return items or None


# ---
# Triggers
# ---


def _irrealis(doc: _Doc, t: int, lo: int) -> str:
    """Why the verb at t does not report an actual casualty ("would kill", "vowed to kill")."""
    low = doc.low
    k = t - 1
    while k >= lo and low[k].endswith("ly") and low[k] not in ("family",):
        k -= 1
    if k < lo:
        return ""
    prev = low[k]
    if prev == "to" and low[t] in _BASE_FORMS:
        return "threat or intention, not an actual casualty"
    if prev in _MODALS and low[t] in _BASE_FORMS:
        return "hypothetical or threat"
    if prev == "have" and k - 1 >= lo and low[k - 1] in _MODALS:
        # "could have killed", "may have killed", "must have killed": a guess, not a count
        return "hypothetical"
    if prev == "at" and k - 1 >= lo and low[k - 1] in ("aimed", "aim", "attempt", "attempts"):
        return "attempt, not an actual casualty"
    if prev in ("not", "never", "n't"):
        return "negated"
    return ""


def _war_head(doc: _Doc, a: int, b: int) -> str:
    """Whether the noun phrase low[a:b] (its head before any preposition) names a war or
    conflict as a whole ("the Karabakh conflict", "World War II") or a long-run episode ("the
    decades-long dispute", "years of fighting"): the reason, or ""."""
    low = doc.low
    head = a
    while head < b and low[head] not in _SUBJECT_PREPS:
        head += 1
    if head == a:
        return ""
    words = low[a:head]
    last = words[-1]
    if last in _WAR_NOUNS or (last in ("i", "ii", "one", "two") and len(words) > 1
                              and words[-2] in _WAR_NOUNS):
        return "war-long aggregate (the war or conflict as a whole)"
    if not _LONG_RUN_MODIFIERS.isdisjoint(words) or (
            last in _LONG_RUN_SPANS and head < b and low[head] == "of"):
        return "long-run aggregate (a years-long episode)"
    return ""


def _war_subject(doc: _Doc, v: int, lo: int) -> str:
    """Whether the subject of the verb at token v is a war or conflict as a whole (see
    _war_head): "The conflict over Karabakh has killed", "a war that cost", "the decades-long
    dispute, which has claimed". The reason, or ""."""
    low = doc.low
    k = v - 1
    while k >= lo and (low[k] in _AUX or low[k] in _MODALS or low[k] in _SUBJECT_SKIP
                       or (low[k].endswith("ly") and len(low[k]) > 3 and low[k] != "family"
                           and doc.raw[k][0].islower())):  # an adverb, not "Italy"
        k -= 1
    relative = k >= lo and low[k] in ("that", "which")
    if relative:
        k -= 1
        if k >= lo and low[k] == ",":
            k -= 1
    elif k >= lo and low[k] == ",":
        # "The war, now in its third year, has claimed": step over the parenthesis
        j = k - 1
        while j >= lo and k - j < 12 and low[j] not in (",", ";", ":", "(", ")"):
            j -= 1
        if j >= lo and low[j] == ",":
            k = j - 1
    end = k + 1  # the subject phrase is low[start:end]
    start = end
    while start > lo and end - start < 10:
        w = low[start - 1]
        if w in _SUBJECT_PREPS or w in _SUBJECT_DETS or (
                w[0].isalnum() and w not in _FUNCTION and w not in _TRIGGER_WORDS):
            start -= 1
        else:
            break
    indefinite = start < end and low[start] in ("a", "an")
    while start < end and low[start] in _SUBJECT_DETS:
        start += 1
    if start >= end:
        return ""
    if relative:
        # "the worst fighting since a war that cost ...": the nearest noun phrase
        near = end
        while near > start and low[near - 1] not in _SUBJECT_PREPS \
                and low[near - 1] not in _SUBJECT_DETS:
            near -= 1
        got = _war_head(doc, near, end)
        if got:
            return got
    if low[start] in _SUBJECT_PREPS or indefinite:
        # a phrase before the subject ("In the region the ..."): not read; "a turf war left
        # three dead": an incident (a war as a whole is "the war", or "a war that ...")
        return ""
    return _war_head(doc, start, end)


_RECENT_RE = next(rx for kind, _, rx in _MARKER_PATTERNS if kind == "recent")


def _recent_after(doc: _Doc, s: int, char: int) -> bool:
    """Whether a recent time expression ("on Tuesday", "since Sunday", not "so far") follows
    offset `char` in its clause: "the war has killed 12 civilians since Tuesday" is the toll of
    the present episode."""
    info = doc.info(s)
    if not info.has_recent:
        return False
    text = doc.text
    for a, _, kind, matched in info.markers:
        if kind != "recent" or a < char or "," in text[char:a] or ";" in text[char:a]:
            continue
        for m in _RECENT_RE.finditer(_str_lower(matched)):
            if not m.group().startswith("so"):
                return True
    return False


def _aux_start(doc: _Doc, t: int, lo: int) -> tuple[int, bool, bool, bool]:
    """Skip auxiliaries and adverbs left of a participle. Returns (first aux index, had aux,
    singular aux, negated)."""
    low = doc.low
    k = t - 1
    had = singular = negated = False
    steps = 0
    while k >= lo and steps < 5:
        w = low[k]
        if w in _AUX or (w.endswith("ly") and len(w) > 3 and w not in ("family",)):
            if w in ("was", "were", "is", "are", "been", "being", "had", "has", "have", "got",
                     "get", "gets", "confirmed", "believed", "feared", "reported", "presumed",
                     "found", "declared", "pronounced", "listed"):
                had = True
            if w in _SINGULAR_AUX:
                singular = True
            if w in _PLURAL_AUX:
                singular = False
            k -= 1
            steps += 1
        elif w in ("not", "never", "n't"):
            negated = True
            k -= 1
            steps += 1
        elif w == "and" and k - 1 >= lo and steps < 3 and (
                low[k - 1].endswith("ed") or low[k - 1] in ("shot", "hit", "struck", "beaten")):
            k -= 2  # "were trapped and presumed dead", "were targeted and killed"
            steps += 2
        else:
            break
    return k + 1, had, singular, negated


def _starts_object(doc: _Doc, k: int, hi: int) -> bool:
    """Whether the token after an -ed form begins its object (so the form is active)."""
    if k >= hi:
        return False
    w = doc.low[k]
    if w in ("a", "an", "the", "his", "her", "their", "its", "him", "them", "himself", "herself",
             "themselves", "both", "another", "several", "dozens", "hundreds", "scores",
             "thousands", "many", "some", "most", "at", "more", "nearly", "almost", "about",
             "up", "over"):
        return w not in ("at", "over", "up") or _parse_quantity(doc, k, hi) is not None
    if _parse_quantity(doc, k, hi) is not None:
        return True
    r = doc.raw[k]
    return r[0].isupper() and r[0].isalpha() and not doc.title_case(doc.sent_of[k])


def _total(items: list[_Item]) -> tuple[int, int | None, Qualifier, bool, str]:
    if len(items) == 1:
        it = items[0]
        cat = _category(it.nouns)
        return it.count, it.high, ("vague" if it.vague else it.qualifier), it.vague, cat
    count = sum(it.count for it in items)
    vague = any(it.vague for it in items)
    high: int | None = None
    qual: Qualifier = "vague" if vague else items[0].qualifier
    if qual == "range":
        qual = "exact"
    return count, high, qual, vague, "mixed"


# The killing and injuring verbs ("killed", "injured", "died"...) that no branch of _Extractor.run
# before its two verb branches takes: each of those branches starts by testing the word against
# the words subtracted here. For these, run goes straight to the verb branches.
_VERB_ONLY = (_KILL_ACTIVE | _KILL_PASSIVE | _INJ_ACTIVE | _INJ_PASSIVE) - (
    _words("shot shoots shooting toll number death deaths lives dead injuries wounds missing "
           "unaccounted buried") | _NOUN_OF | _DEATH_NOUNS
)


class _Extractor:
    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.cands: list[_Cand] = []
        self.used: set[int] = set()

    def add(self, kind: CasualtyKind, items: list[_Item], trig: int, lo: int, hi: int,
            toll: bool = False, reason: str = "") -> None:
        count, high, qual, vague, cat = _total(items)
        if items[0].total_hint if len(items) == 1 else any(it.total_hint for it in items):
            toll = True
        # positional (faster than keywords): kind, count, high, qualifier, vague, negation, toll,
        # category, trig, lo, hi, sent, local_reason
        self.cands.append(_Cand(
            kind, count, high, qual, vague, False, toll, cat, trig, min(lo, trig),
            max(hi, trig + 1), self.doc.sent_of[trig], reason,
        ))

    def one(self, count: int = 1) -> list[_Item]:
        return [_Item(count, None, "exact", False, 0, 0, ())]

    def run(self) -> list[_Cand]:
        doc = self.doc
        low = doc.low
        for t in compress(range(doc.n), map(_TRIGGER_WORDS.__contains__, low)):
            if t in self.used:
                continue
            w = low[t]
            s = doc.sent_of[t]
            lo, hi, _ = doc.sents[s]
            if w in _VERB_ONLY:  # straight to the two verb branches at the end (see _VERB_ONLY)
                if w in _KILL_ACTIVE or w in _KILL_PASSIVE:
                    self.verb(t, t + 1, "killed", lo, hi, active=w in _KILL_ACTIVE,
                              passive=w in _KILL_PASSIVE)
                else:
                    fatal = t >= 1 and low[t - 1] in ("fatally", "mortally")  # = killed
                    self.verb(t, t + 1, "killed" if fatal else "injured", lo, hi,
                              active=w in _INJ_ACTIVE, passive=w in _INJ_PASSIVE)
                continue
            if w in ("shot", "shoots", "shooting"):
                if t + 1 < hi and low[t + 1] == "dead":
                    self.used.add(t + 1)
                    self.verb(t, t + 2, "killed", lo, hi, active=True, passive=w == "shot")
                continue
            if w == "toll":
                self.toll(t, lo, hi)
                continue
            if w == "number":
                # "the number of dead", "the number of people killed"
                if t + 2 < hi and low[t + 1] == "of":
                    k = t + 2
                    while k < min(hi, t + 6) and _is_noun_word(doc, k):
                        k += 1
                    nxt = low[k] if k < hi else ""
                    if nxt in ("dead", "deaths", "fatalities", "killed", "victims"):
                        self.toll_scan(t, k + 1, "killed", lo, hi, "")
                    elif nxt in ("injured", "wounded"):
                        self.toll_scan(t, k + 1, "injured", lo, hi, "")
                continue
            if w in _NOUN_OF and t + 1 < hi and low[t + 1] == "of":
                kind: CasualtyKind = "killed"
                items = _object_enum(doc, t + 2, hi)
                if items:
                    self.add(kind, items, t, t, items[-1].hi, reason=self.background(t, lo))
                    continue
            if w == "death" and t >= 2 and low[t - 1] == "to" and low[t - 2].endswith("ed"):
                # "stabbed to death", "were beaten to death"
                self.verb(t - 2, t + 1, "killed", lo, hi, active=True, passive=True)
                continue
            if w in ("deaths", "death") and t >= 2 and low[t - 1] in ("their", "his", "her") \
                    and low[t - 2] == "to":
                items = _subject_enum(doc, t - 3, lo)
                if items:
                    self.add("killed", items, t, items[-1].lo, t + 1)
                continue
            if w in _DEATH_NOUNS:
                items = _subject_enum(doc, t - 1, lo)
                if items:
                    self.add("killed", items, t, items[-1].lo, t + 1,
                             reason=self.result_of(items, lo, t + 1))
                continue
            if w == "lives":
                self.lives(t, lo, hi)
                continue
            if w == "dead":
                self.participle(t, t + 1, "killed", lo, hi, ambiguous=False)
                continue
            if w in ("injuries", "wounds"):
                if w == "wounds" and self.verb(t, t + 1, "injured", lo, hi, active=True,
                                               passive=False, quiet=True):
                    continue
                self.suffered(t, lo)
                continue
            if w in ("missing", "unaccounted", "buried"):
                if w == "buried" and not (t >= 1 and low[t - 1] in ("still", "remain",
                                                                    "remained", "remains")):
                    continue
                self.participle(t, t + 1, "missing", lo, hi, ambiguous=False)
                continue
            if w in _KILL_ACTIVE or w in _KILL_PASSIVE:
                self.verb(t, t + 1, "killed", lo, hi, active=w in _KILL_ACTIVE,
                          passive=w in _KILL_PASSIVE)
                continue
            if w in _INJ_ACTIVE or w in _INJ_PASSIVE:
                fatal = t >= 1 and low[t - 1] in ("fatally", "mortally")  # = killed
                self.verb(t, t + 1, "killed" if fatal else "injured", lo, hi,
                          active=w in _INJ_ACTIVE, passive=w in _INJ_PASSIVE)
                continue
        self.negations()
        return self.cands

    # -- frames ---

    def war_long(self, v: int, lo: int, hi: int) -> str:
        """Why the figure of the verb at v (its phrase ending before token hi) is a war-long
        aggregate: its subject is a war or conflict as a whole ("the conflict has killed 30,000
        people"), unless a recent time follows in the clause ("... 12 civilians since
        Tuesday"). "" when it is not."""
        doc = self.doc
        reason = _war_subject(doc, v, lo)
        if reason and _recent_after(doc, doc.sent_of[v], doc.end[hi - 1]):
            return ""
        return reason

    def result_of(self, items: list[_Item], lo: int, hi: int) -> str:
        """war_long for the subject of "left 30,000 dead", "caused 30,000 deaths"."""
        v = items[-1].lo - 1
        if v >= lo and self.doc.low[v] in _RESULT_VERBS:
            return self.war_long(v, lo, hi)
        return ""

    def background(self, t: int, lo: int) -> str:
        doc = self.doc
        end = doc.end
        raw = doc.raw
        e = end[t]
        b = e - len(raw[t])  # doc.start(t)
        w_lo = max(end[lo] - len(raw[lo]), b - 90)  # from the sentence start at most
        if _BACKGROUND_HINT_RE.search(doc.lowtext, w_lo, b):  # a hint in the window
            window = doc.text[w_lo:b]
            for m in _BACKGROUND_RE.finditer(window):
                gap = window[m.end():]
                if len(gap) <= 40 and "," not in gap:
                    return f"earlier incident ({m.group()})"
        s_end = doc.spans[doc.sent_of[t]][1]
        if not _BACKGROUND_AFTER_HINT_RE.search(doc.lowtext, e, min(s_end, e + 80)):
            return ""
        after = _BACKGROUND_AFTER_RE.match(doc.text, e, s_end)
        if after:
            return f"earlier incident ({after.group().strip()})"
        return ""

    def verb(self, t: int, t_end: int, kind: CasualtyKind, lo: int, hi: int, active: bool,
             passive: bool, quiet: bool = False) -> bool:
        doc = self.doc
        irr = _irrealis(doc, t, lo)
        if irr == "negated":
            return False
        if active:
            # "murder suspect", "massacre site": nouns, unless a count follows
            items = _object_enum(doc, t_end, hi, counted=doc.low[t] in _NOUN_VERBS)
            if items:
                toll = (t >= 1 and doc.low[t - 1] in ("has", "have")) or (
                    t >= 2 and doc.low[t - 2] in ("has", "have") and doc.low[t - 1] in (
                        "already", "so", "now"))
                reason = irr or self.background(t, lo) or self.war_long(t, lo, items[-1].hi)
                self.add(kind, items, t, t, items[-1].hi, toll=toll, reason=reason)
                return True
            if quiet:
                return False
        if passive and (not irr or irr == "hypothetical"):
            # ("may have died": participle finds the modal and keeps the figure as hypothetical)
            return self.participle(t, t_end, kind, lo, hi,
                                   ambiguous=doc.low[t] in _AMBIGUOUS or t_end - t > 1)
        return False

    def participle(self, t: int, t_end: int, kind: CasualtyKind, lo: int, hi: int,
                   ambiguous: bool) -> bool:
        doc = self.doc
        low = doc.low
        a, had_aux, singular, negated = _aux_start(doc, t, lo)
        if negated:
            return False
        # "up to 200 may have been killed", "200 could have died", "two must be dead": a modal
        # among the auxiliaries (_aux_start stops at most of them: step over it) makes a guess
        hypothetical = ""
        if a < t and a - 1 >= lo and low[a - 1] in _MODALS:
            a -= 1
        if a < t and not _MODALS.isdisjoint(low[a:t]):
            hypothetical = "hypothetical"
        if kind == "missing":
            while a - 1 >= lo and low[a - 1] in ("still", "remain", "remained", "remains",
                                                 "are", "were", "reported", "listed"):
                a -= 1
        if ambiguous and not had_aux and _starts_object(doc, t_end, hi):
            return False
        if a - 1 >= lo and low[a - 1] in ("the", "those") and a == t:
            return False  # "11 of the wounded", "among the dead": a noun, not a predicate
        items = _subject_enum(doc, _skip_subset(doc, a - 1, lo), lo)
        if items:
            extra = self.along_with(t_end, hi)
            reason = (hypothetical or self.background(t, lo)
                      or self.result_of(items, lo, t_end))
            self.add(kind, items + extra, t, items[-1].lo, t_end, reason=reason)
            return True
        # "one of the two hostages ... died" (a finite verb: not a reduced relative such as
        # "hostages injured in the raid")
        finite = had_aux or low[t] in ("died", "dies", "die", "perished")
        part = self.partitive(a - 1, lo) if finite else None
        if part is not None:
            self.add(kind, [part], t, part.lo, t_end,
                     reason=hypothetical or self.background(t, lo))
            return True
        if singular and a - 1 >= lo:
            subj = low[a - 1]
            before = low[a - 2] if a - 2 >= lo else ""
            if subj in ("one", "body") and before == "no":
                return False
            if subj in ("nobody", "none", "no-one") or subj in _FIGURATIVE_SUBJECTS:
                return False
            if subj in _NONPERSON:
                return False
            extra = self.along_with(t_end, hi)
            self.add(kind, self.one() + extra, t, a - 1, t_end,
                     reason=hypothetical or self.background(t, lo))
            return True
        return False

    def along_with(self, k: int, hi: int) -> list[_Item]:
        low = self.doc.low
        if k + 2 < hi and low[k] in ("along", "together") and low[k + 1] == "with":
            it = _parse_item(self.doc, k + 2, hi, True)
            if it is not None:
                return [it]
        return []

    def partitive(self, last: int, lo: int) -> _Item | None:
        doc = self.doc
        low = doc.low
        k = last
        while k > lo and last - k < 16:
            w = low[k]
            if w in (",", ";", ":", "(", ")", "."):
                return None
            if w == "of":
                for s in (k - 1, k - 2):
                    if s >= lo:
                        q = _parse_quantity(doc, s, k)
                        if q is not None and q.end == k and not q.article and not q.vague:
                            return _Item(q.count, q.high, q.qualifier, False, s, k, ())
                return None
            k -= 1
        return None

    def suffered(self, t: int, lo: int) -> None:
        """"14 people sustained injuries", "he suffered leg wounds"."""
        doc = self.doc
        low = doc.low
        k = t - 1
        steps = 0
        while k >= lo and steps < 3 and low[k] not in ("sustained", "suffered", "received",
                                                       "sustaining", "suffering", "sustain",
                                                       "suffer"):
            if not (low[k][0].isalpha() and low[k] not in _FUNCTION):
                return
            k -= 1
            steps += 1
        if k < lo or low[k] not in ("sustained", "suffered", "received", "sustaining",
                                    "suffering", "sustain", "suffer"):
            return
        a, _, _, negated = _aux_start(doc, k, lo)
        if negated:
            return
        items = _subject_enum(doc, a - 1, lo)
        if items:
            self.add("injured", items, t, items[-1].lo, t + 1, reason=self.background(k, lo))
            return
        if a - 1 >= lo and low[a - 1] in ("he", "she"):
            self.add("injured", self.one(), t, a - 1, t + 1)

    def lives(self, t: int, lo: int, hi: int) -> None:
        doc = self.doc
        low = doc.low
        if t + 1 < hi and low[t + 1] == "of" and t >= 2 and low[t - 1] == "the" and \
                low[t - 2] in _LIFE_VERBS:
            items = _object_enum(doc, t + 2, hi)
            if items:
                toll = t >= 3 and low[t - 3] in ("has", "have", "already", "far")
                reason = self.background(t, lo) or self.war_long(t - 2, lo, items[-1].hi)
                self.add("killed", items, t, t - 2, items[-1].hi, toll=toll, reason=reason)
            return
        if t >= 2 and low[t - 1] == "their" and low[t - 2] in ("lost", "losing", "lose"):
            a, _, _, _ = _aux_start(doc, t - 2, lo)
            items = _subject_enum(doc, a - 1, lo)
            if items:
                self.add("killed", items, t, items[-1].lo, t + 1)
            return
        for s in range(max(lo, t - 8), t):
            it = _parse_item(doc, s, t, False)
            if it is not None and it.hi == t and s - 1 >= lo and low[s - 1] in _LIFE_VERBS:
                v = s - 1
                toll = it.total_hint or (v >= 1 and low[v - 1] in ("has", "have", "already",
                                                                    "far"))
                reason = self.background(v, lo) or self.war_long(v, lo, t + 1)
                self.add("killed", [it], t, v, t + 1, toll=toll, reason=reason)
                return

    def toll(self, t: int, lo: int, hi: int) -> None:
        doc = self.doc
        low = doc.low
        kind: CasualtyKind = "injured" if t >= 1 and low[t - 1] == "injury" else "killed"
        reason = ""
        for k in range(max(lo, t - 4), t):
            if low[k] in _WAR_MODIFIERS or (doc.raw[k][0].isupper() and _is_demonym(doc.raw[k])):
                # "the British army death toll in the war": a war-long count, unless an event
                # ("the Palestinian toll from the raid") is named before the figure
                reason = "war-long aggregate toll"
        self.toll_scan(t, t + 1, kind, lo, hi, reason)

    def toll_scan(self, t: int, k0: int, kind: CasualtyKind, lo: int, hi: int,
                  reason: str) -> None:
        doc = self.doc
        low = doc.low
        k = k0
        event_seen = False
        while k < min(hi, k0 + 25):
            w = low[k]
            if w in (";", ":"):
                return
            if w in _WAR_NOUNS and not reason and k + 1 < hi and (
                    low[k + 1] in _SUBJECT_PREPS or low[k + 1] in _TOLL_CONNECTORS
                    or not _is_noun(low[k + 1])):
                # "the death toll in the conflict has passed 30,000" (not "in the conflict
                # zone"), unless an event is named ("the toll from the raid")
                reason = "war-long aggregate toll"
            if w in ("attack", "blast", "bombing", "ambush", "crash", "explosion", "quake",
                     "earthquake", "storm", "fire", "typhoon", "hurricane", "flood", "floods",
                     "raid", "offensive", "operation", "clashes", "strike", "strikes"):
                event_seen = True
            if w in _MODALS or w in ("expected", "likely", "feared", "projected", "set"):
                return  # "the toll could reach 100": a projection
            if w in _TOLL_CONNECTORS and k + 1 < hi:
                it = _parse_item(doc, k + 1, hi, False)
                if it is not None and not it.vague and (it.count > 1 or it.nouns
                                                        or low[k + 1] not in ("a", "an")):
                    r = "" if event_seen else reason
                    self.add(kind, [it], t, t, it.hi, toll=True,
                             reason=r or self.background(t, lo))
                    return
            k += 1

    def negations(self) -> None:
        """Unrestricted negations: "no casualties", "no one was hurt", "caused no injuries"."""
        doc = self.doc
        lowtext = doc.lowtext
        spans = doc.spans
        relevant = doc.relevant
        if not relevant:
            return
        # Most texts have no negation hint at all: one search over all the sentences first. A hint
        # in a sentence is one in that range too, so none starts before the first one found there.
        a, b = spans[relevant[0]][0], spans[relevant[-1]][1]
        without = lowtext.find("without", a, b)
        m = _N_NEGATION_HINT_RE.search(lowtext, a, b)
        if m is not None:
            first = m.start() if without == -1 else min(m.start(), without)
        elif without != -1:
            first = without
        else:
            return
        for s in relevant:
            clo, chi, _ = spans[s]
            if chi <= first or (lowtext.find("without", clo, chi) == -1
                                and _N_NEGATION_HINT_RE.search(lowtext, clo, chi) is None):
                continue  # no negation hint in lowtext[clo:chi]
            for rx in _NEGATION_RES:
                self._negations(rx.finditer(doc.lowtext, clo, chi))

    def _negations(self, matches: Iterator[re.Match[str]]) -> None:
        doc = self.doc
        for m in matches:
            kinds: list[CasualtyKind] = []
            groups = m.groupdict()
            for g in (groups.get("noun"), groups.get("v1"), groups.get("v2")):
                key = "deaths" if g and g.startswith("loss") else g or ""
                for kd in _NEG_KIND.get(key, ()):
                    if kd not in kinds:
                        kinds.append(kd)
            t = _token_at(doc, m.start())
            t_end = _token_at(doc, m.end() - 1) + 1
            if not kinds or t < 0 or t_end <= t:
                continue
            for kd in kinds:
                self.cands.append(_Cand(
                    kind=kd, count=0, high=None, qualifier="exact", vague=False,
                    negation=True, toll=False, category="generic", trig=t, lo=t,
                    hi=t_end, sent=doc.sent_of[t],
                ))


def _token_at(doc: _Doc, pos: int) -> int:
    """Index of the token covering char offset `pos`, or -1 when it was not tokenised."""
    k = bisect_right(doc.end, pos)  # the first token that ends after pos
    if k == doc.n or doc.start(k) > pos:
        return -1
    return k


# ---
# Current or background
# ---

_MARKER_REASON = {
    "hist": "historical or earlier incident",
    "agg": "period or war-long aggregate",
    "rate": "rate, not an incident toll",
}


def _marker_distance(text: str, a: int, b: int, mk: tuple[int, int, str, str]) -> tuple[int, int]:
    """How far a time expression is from the phrase [a, b); one in another clause (across a
    comma or semicolon) is a weaker match than one in the same clause."""
    if mk[0] >= b:
        gap = text[b:mk[0]]
    elif mk[1] <= a:
        gap = text[mk[1]:a]
    else:
        return 0, -mk[0]
    penalty = 80 if ("," in gap or ";" in gap) else 0
    return len(gap) + penalty, -mk[0]


def _judge(doc: _Doc, c: _Cand) -> None:
    if c.local_reason:
        c.current, c.reason = False, c.local_reason
        return
    info = doc.info(c.sent)
    if info.trial:
        c.current, c.reason = False, f"trial or court case ({info.trial})"
        return
    if info.record and not info.has_recent:
        c.current, c.reason = False, f"an actor's past record ({info.record})"
        return
    if info.markers:
        if len(info.markers) == 1:
            best = info.markers[0]
        else:
            end = doc.end
            a, b = end[c.lo] - len(doc.raw[c.lo]), end[c.hi - 1]  # doc.start(c.lo)
            best = min(info.markers, key=lambda mk: _marker_distance(doc.text, a, b, mk))
        kind, matched = best[2], best[3]
        if kind in _MARKER_REASON:
            c.current, c.reason = False, f"{_MARKER_REASON[kind]} ({matched.strip()})"
        return
    # No time expression: inherit from the previous sentence of the same paragraph.
    if doc.headline[c.sent]:
        return
    par = doc.sents[c.sent][2]
    s = c.sent - 1
    while s >= 0 and doc.sents[s][2] == par and not doc.headline[s]:
        prev = doc.info(s)
        if prev.markers:
            kind, matched = prev.markers[-1][2], prev.markers[-1][3]
            if kind in _MARKER_REASON:
                c.current, c.reason = False, f"{_MARKER_REASON[kind]} ({matched.strip()})"
            return
        s -= 1


# ---
# Choosing the current toll
# ---


def _figure(doc: _Doc, c: _Cand) -> CasualtyFigure:
    """The figure of a judged candidate (built once: it is also a current toll's figure)."""
    if c.figure is None:
        a, b, _ = doc.spans[c.sent]
        # positional (faster than keywords): kind, count, qualifier, current, span, text,
        # count_high, reason
        c.figure = CasualtyFigure(c.kind, c.count, c.qualifier, c.current, (a, b), doc.text[a:b],
                                  c.high, c.reason)
    return c.figure


def _combine(doc: _Doc, cands: list[_Cand]) -> CasualtyFigure | None:
    """The current toll among numeric current candidates of one kind and one region."""
    if not cands:
        return None
    tolls = [c for c in cands if c.toll]
    if tolls:
        return _figure(doc, max(tolls, key=lambda c: (c.count, c.trig)))
    best_by_cat: dict[str, _Cand] = {}
    umbrella: _Cand | None = None
    for c in cands:
        if c.category in ("generic", "mixed"):
            if umbrella is None or c.count >= umbrella.count:
                umbrella = c
            continue
        cur = best_by_cat.get(c.category)
        if cur is None or c.count >= cur.count:
            best_by_cat[c.category] = c
    parts = list(best_by_cat.values())
    specific = sum(c.count for c in parts)
    if umbrella is not None and umbrella.count >= specific:
        return _figure(doc, umbrella)
    if len(parts) == 1:
        return _figure(doc, parts[0])
    parts.sort(key=lambda c: c.trig)
    a = doc.sent_span(parts[0].sent)[0]
    b = max(doc.sent_span(c.sent)[1] for c in parts)
    qual: Qualifier = "exact"
    if any(c.qualifier in ("at_least", "more_than") for c in parts):
        qual = "at_least"
    return CasualtyFigure(
        kind=parts[0].kind, count=specific, qualifier=qual, current=True, span=(a, b),
        text=doc.text[a:b],
    )


def _current_tolls(doc: _Doc, cands: list[_Cand]) -> dict[str, CasualtyFigure | None]:
    """The current toll of each kind: body figures over headline ones, else an explicit zero."""
    groups: dict[str, tuple[list[_Cand], list[_Cand], list[_Cand]]] = {
        "killed": ([], [], []), "injured": ([], [], []), "missing": ([], [], [])}
    headline = doc.headline
    for c in cands:
        if not c.current:
            continue
        body, head, zeros = groups[c.kind]
        if c.negation:
            zeros.append(c)
        elif not c.vague:
            (head if headline[c.sent] else body).append(c)
    tolls: dict[str, CasualtyFigure | None] = {}
    for kind, (body, head, zeros) in groups.items():
        fig = _combine(doc, body) if body else None  # (_combine of no candidates is None)
        if fig is None and head:
            fig = _combine(doc, head)
        if fig is None and zeros:
            zeros.sort(key=lambda c: (headline[c.sent], c.trig))
            fig = _figure(doc, zeros[0])
        tolls[kind] = fig
    return tolls


# Caseless punctuation common in news text, and a stand-in ASCII control character for each.
_CASELESS = tuple(zip("’“”—–‘", "\x01\x02\x03\x04\x05\x06", strict=True))


def _lowercase(text: str) -> str:
    """``text.lower()``, faster when curly quotes or dashes are all that is not ASCII.

    ``str.lower`` of a string holding any non-ASCII character takes a path about ten times
    slower than of an ASCII one. These characters have no case and do not change the case of
    their neighbours (only a Greek sigma looks at its context, and it is not ASCII), so they
    are swapped for stand-ins unused in the text, the ASCII string lowered, and swapped back."""
    if text.isascii():
        return text.lower()
    swapped = text
    used: list[tuple[str, str]] = []
    for char, stand_in in _CASELESS:
        if char in swapped:
            if stand_in in text:
                return _str_lower(text)
            swapped = swapped.replace(char, stand_in)
            used.append((char, stand_in))
    if not swapped.isascii():
        return _str_lower(text)
    lowered = swapped.lower()
    for char, stand_in in used:
        lowered = lowered.replace(stand_in, char)
    return lowered


_EMPTY = CasualtyReport(figures=(), killed=None, injured=None, missing=None)
_CAND_ORDER = attrgetter("trig", "kind")


def extract_casualties(text: str) -> CasualtyReport:
    """Killed, injured and missing figures in `text`, and the current toll of each.

    `text` is plain text; for a feed entry pass ``title + "\\n" + body`` so that the title is
    recognised as a headline (used only when the body gives no figure). Spans in the returned
    figures are character offsets into `text` (the sentence holding the figure).
    """
    if not text:
        return _EMPTY
    lowtext = _lowercase(text)
    if len(lowtext) != len(text):
        # "İ" lowers to two characters ("i" and a combining dot), the one character whose
        # lower case is longer: lowered as "I", it keeps every offset of `text` (offsets into
        # the lowered text are offsets into `text` throughout)
        lowtext = _lowercase(text.replace("İ", "I"))
    hints = _hint_positions(lowtext)
    if not hints:
        return _EMPTY
    doc = _Doc(text, lowtext, hints)
    if doc.n == 0:
        return _EMPTY
    cands = _Extractor(doc).run()
    if not cands:
        return _EMPTY
    for c in cands:
        _judge(doc, c)
    cands.sort(key=_CAND_ORDER)
    figures = tuple([_figure(doc, c) for c in cands])
    tolls = _current_tolls(doc, cands)
    return CasualtyReport(
        figures=figures, killed=tolls["killed"], injured=tolls["injured"],
        missing=tolls["missing"],
    )
