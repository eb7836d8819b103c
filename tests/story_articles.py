"""Invented articles for the story-grouping tests (no corpus text)."""

from __future__ import annotations

BAR_SHOOTING = (
    "Two men were wounded in a shooting outside the Blue Anchor bar on Carver Street in "
    "Millbrook early Saturday, police said.\n"
    "Officers responded to reports of gunfire around 1:30 a.m. and found the victims, ages 24"
    " and 31, in the parking lot behind the bar.\n"
    "Both men were taken to Millbrook General Hospital with injuries that police described as"
    " serious but not life-threatening.\n"
    "Witnesses told investigators that an argument inside the bar spilled into the parking "
    "lot shortly before closing time.\n"
    "A dark pickup truck was seen leaving the area at high speed, according to Lieutenant "
    "Karen Osei of the Millbrook Police Department.\n"
    "Police have not released the names of the victims and have not made any arrests.\n"
    "Osei asked anyone with information about the shooting to contact the department's tip "
    "line."
)

BAR_SHOOTING_FOLLOWUP = (
    "Millbrook police on Monday arrested a 27-year-old man in connection with the shooting "
    "outside the Blue Anchor bar on Carver Street that wounded two men early Saturday.\n"
    "Derrick Hollis was booked into the Lorain County jail on two counts of felonious "
    "assault, Lieutenant Karen Osei said.\n"
    "Investigators identified Hollis through surveillance video from a gas station near the "
    "bar and located the dark pickup truck seen leaving the parking lot.\n"
    "Osei said the shooting followed an argument inside the bar over a parking space.\n"
    "The two victims, ages 24 and 31, remain at Millbrook General Hospital in stable "
    "condition.\n"
    "Hollis is expected to appear in municipal court on Wednesday."
)

DRIVE_BY = (
    "A 16-year-old boy was killed Tuesday evening in a drive-by shooting on Lakeview Avenue "
    "in Millbrook, police said.\n"
    "The teenager, identified by relatives as Marcus Reed, was standing on the front porch of"
    " a house when a silver sedan drove past and someone inside opened fire.\n"
    "Reed was pronounced dead at the scene. A 15-year-old girl who was with him was not hurt.\n"
    "Police Chief Daniel Briggs said detectives believe the gunfire was aimed at the house "
    "and are reviewing doorbell camera footage from the block.\n"
    "Reed was a sophomore at Millbrook High School, where counselors will be available to "
    "students this week.\n"
    "No arrests have been made, and police asked neighbours with video of the street to come "
    "forward."
)

QUAKE_PERU = (
    "A magnitude 6.1 earthquake struck off the coast of northern Peru on Sunday, the United "
    "States Geological Survey said.\n"
    "The quake hit at a depth of 35 kilometres about 60 kilometres west of the port city of "
    "Talara shortly after 3 p.m. local time.\n"
    "Residents of Talara and Piura ran into the streets as buildings swayed, and the regional"
    " government reported cracks in a hospital wall and a collapsed adobe house.\n"
    "Peru's National Civil Defence Institute said two people suffered minor injuries and that"
    " no tsunami warning had been issued.\n"
    "Oil operations on the northern coast were briefly halted for inspections.\n"
    "Peru sits on the Pacific Ring of Fire and records hundreds of tremors every year."
)

QUAKE_CHILE = (
    "A magnitude 5.8 earthquake shook central Chile on Wednesday, rattling windows in the "
    "capital Santiago, the country's seismological centre said.\n"
    "The tremor was centred 40 kilometres northeast of the city of Rancagua at a depth of 90 "
    "kilometres, according to the University of Chile's National Seismological Center.\n"
    "The national emergency office said there were no reports of injuries or serious damage, "
    "and the navy ruled out a tsunami along the coast.\n"
    "Copper miner Codelco said operations at its El Teniente mine continued normally after "
    "safety checks.\n"
    "Chile is one of the most earthquake-prone countries in the world and sits along the "
    "Pacific Ring of Fire."
)

HOST_A = (
    "The Academy of Motion Picture Arts and Sciences on Friday named comedian Rita Valdane as"
    " host of next year's Oscars ceremony.\n"
    "Valdane, who has starred in three network sitcoms, said in a statement that hosting the "
    "Academy Awards was a dream she never expected to come true.\n"
    "Producers Tom Lacey and Anne Marsh said Valdane's warmth and timing made her the right "
    "choice for a ceremony they hope will feel lighter than recent years.\n"
    "The broadcast is scheduled for March at the Dolby Theatre in Los Angeles.\n"
    "It will be the first time Valdane hosts a major awards show."
)

HOST_B = (
    "Actor and singer Jonah Pryce will host the Academy Awards next year, the Academy of "
    "Motion Picture Arts and Sciences announced on Thursday.\n"
    "Pryce, best known for stage musicals, promised a ceremony with more music and shorter "
    "speeches.\n"
    "The producers said Pryce had been their first choice after months of talks with several "
    "comedians.\n"
    "The Oscars will be broadcast live from the Dolby Theatre in Los Angeles in March.\n"
    "Pryce previously presented an award at the ceremony but has never hosted a major "
    "television event."
)

BACKGROUND = [
    ("City council approves new budget for road repairs",
     "The city council voted 7-2 on Tuesday to approve a budget that sets aside money for road "
     "repairs, park maintenance and library hours.\nCouncil members debated the plan for three "
     "hours before the vote.\nThe mayor said the budget keeps property taxes flat for a third "
     "year."),
    ("Local bakery wins state award for sourdough bread",
     "A family-owned bakery on Main Street won first prize at the state fair for its sourdough "
     "bread.\nThe owners said the starter dough has been in the family for forty years.\n"
     "Customers lined up on Saturday morning to buy loaves."),
    ("School district announces new start times",
     "High school classes will start 45 minutes later next fall, the school district announced.\n"
     "Officials cited research on teenage sleep and said bus routes will be redesigned.\nParents "
     "can comment on the plan at a meeting next month."),
    ("Storm knocks out power to thousands of homes",
     "Strong winds and heavy rain knocked out power to about 12,000 homes overnight.\nCrews "
     "worked through the morning to clear fallen trees from power lines.\nThe utility expects to "
     "restore service to most customers by Thursday evening."),
    ("Hospital opens new cancer treatment wing",
     "The regional hospital opened a cancer treatment wing with 40 beds and two radiation "
     "machines.\nDoctors said patients will no longer need to travel to other cities for "
     "therapy.\nThe project was funded by a state grant and private donations."),
    ("Stock markets close higher on strong jobs report",
     "Stock markets rose on Friday after a government report showed employers added more jobs "
     "than expected.\nTechnology and bank shares led the gains.\nAnalysts said the report eased "
     "worries about a slowdown."),
    ("Football team signs veteran quarterback",
     "The team signed a veteran quarterback to a one-year contract on Monday.\nThe coach said the "
     "player will compete for the starting job in training camp.\nFans welcomed the move on "
     "social media."),
    ("Farmers worry about dry spring weather",
     "Farmers across the region say a dry spring has delayed planting of corn and soybeans.\n"
     "Some fields have not had rain in five weeks.\nAgriculture officials are monitoring soil "
     "moisture and may offer drought assistance."),
]

LOCAL_BACKGROUND = [
    ("Millbrook council delays vote on downtown parking garage",
     "The Millbrook city council postponed a vote on a new downtown parking garage after "
     "residents asked for more time to study the cost.\nCouncil President Ruth Adair said the "
     "vote will return in two weeks.\nMillbrook has debated the garage since 2019."),
    ("Millbrook library extends weekend hours",
     "The Millbrook Public Library will stay open until 8 p.m. on Saturdays starting next month."
     "\nThe library director said demand for study space has grown.\nVolunteers will staff the "
     "extra hours."),
    ("Millbrook High School band heads to national competition",
     "The Millbrook High School marching band will compete in the national championship in "
     "Indianapolis.\nStudents raised money for the trip with car washes and bake sales.\nThe band "
     "placed fourth in the state last year."),
    ("Water main break closes road in Millbrook",
     "A water main break closed part of Elm Road in Millbrook on Thursday morning.\nCity crews "
     "expect repairs to take two days.\nResidents on nearby streets may notice low water "
     "pressure."),
    ("Millbrook police host community safety fair",
     "Millbrook police officers met residents at a safety fair in Riverside Park on Sunday.\n"
     "Children toured a patrol car and a fire truck.\nThe department plans similar events in "
     "other neighbourhoods this summer."),
    ("New restaurant opens in downtown Millbrook",
     "A restaurant serving Lebanese food opened on Main Street in downtown Millbrook.\nThe "
     "owners moved to the city from Detroit last year.\nThe restaurant is open daily for lunch "
     "and dinner."),
]


def local_background(n: int, seed: int = 5) -> list[tuple[str, str]]:
    """`n` short, varied local-news articles (templates with invented names), so that words
    every local article shares ("police", the city's name) get the low weight they have in a
    real stream."""
    import random

    rng = random.Random(seed)
    towns = ["Millbrook", "Ashford", "Riverton", "Cedar Falls", "Lorain County"]
    subjects = ["The city council", "Police", "The school board", "Fire officials",
                "The parks department", "County commissioners", "Hospital officials",
                "A local business group", "Residents", "The transit agency"]
    actions = ["approved a plan to", "said it will", "voted to", "asked the state to",
               "announced a proposal to", "held a meeting to discuss whether to"]
    objects = ["repave several streets", "hire more officers", "build a new playground",
               "expand bus service", "raise parking fees", "open a cooling centre",
               "replace old water pipes", "add a traffic light near the school",
               "renovate the public library", "start a recycling program"]
    details = ["The work is expected to take several months.",
               "Officials said the cost will be covered by a state grant.",
               "Some residents raised concerns about noise and traffic.",
               "A public hearing is scheduled for next week.",
               "Police said officers will patrol the area during construction.",
               "The mayor said the project has been discussed for years.",
               "Volunteers will help with the first phase.",
               "The department said more details will be released later."]
    out: list[tuple[str, str]] = []
    for _ in range(n):
        town = rng.choice(towns)
        subject, action, obj = rng.choice(subjects), rng.choice(actions), rng.choice(objects)
        title = f"{town}: {subject.lower().replace('the ', '')} {action.split()[0]} plan to {obj}"
        day = rng.choice(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"])
        lines = [f"{subject} in {town} {action} {obj}, officials said on {day}."]
        lines += rng.sample(details, 3)
        out.append((title, "\n".join(lines)))
    return out
