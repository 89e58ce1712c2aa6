"""The text synthetic prompts are cut from, generated here so nothing is downloaded.

:func:`corpus_text` builds plain English-like prose (about 60,000 words) from the word lists
below with a fixed seed: the same text on every machine and every run, varied enough that
prompts cut from it look like ordinary text to a tokenizer (common words, punctuation,
sentences and paragraphs). The words are ordinary English vocabulary, written for this project.
"""

from __future__ import annotations

import functools
import random

__all__ = ["corpus_text", "corpus_words"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_NOUNS = _words(
    """
river mountain valley forest garden window kitchen market harbor bridge village city road
station library school teacher student doctor farmer sailor painter writer baker merchant
engineer captain soldier traveler neighbor child family friend stranger letter story song
book map lamp candle table chair door wall roof field meadow orchard vineyard island coast
lake pond stream storm cloud rain snow wind morning evening night winter summer autumn spring
season year month week hour minute moment question answer problem idea plan reason memory
dream voice silence music color shadow light fire stone iron silver gold wood paper bread
cheese apple orange coffee tea water wine salt sugar horse dog cat bird fish sheep cow fox
wolf bear deer owl crow machine engine wheel tool hammer rope ladder basket bottle cup plate
bowl knife spoon coat hat boot glove ship boat train carriage cart path street square tower
castle church temple museum theater office factory mill shop inn hotel room hall garden
council court law rule price coin purchase trade harvest crop seed tree flower leaf branch
root grass hill cliff cave desert ocean wave shore sand dust smoke mirror clock bell drum
picture painting statue poem report note record number line circle corner edge center
surface signal message journey voyage visit meeting festival wedding dinner breakfast lunch
supper game lesson course language word sentence page chapter volume history science nature
weather climate energy power machine system method process result effect cause purpose
"""
)

_VERBS = _words(
    """
carried opened closed watched noticed followed crossed reached lifted painted wrote read
built repaired cleaned gathered planted counted measured described explained remembered
forgot discovered visited entered left found lost kept gave took brought sent bought sold
cooked baked poured tasted heard saw touched held pushed pulled turned moved stopped started
finished studied taught learned answered asked called named chose changed joined shared
collected borrowed returned offered promised carried crossed climbed walked wandered
traveled sailed rode drove followed guided welcomed greeted thanked helped served saved
protected covered filled emptied folded packed unpacked mended wrapped marked signed
"""
)

_INTRANSITIVE = _words(
    """
arrived waited rested laughed smiled listened worked traveled slept woke waited paused
hesitated returned vanished appeared shone glowed rang sang danced rose fell grew faded
settled drifted wandered hurried lingered
"""
)

_ADJECTIVES = _words(
    """
old young small large quiet busy bright dark warm cold early late quick slow gentle rough
narrow wide tall short heavy light careful careless simple strange famous ordinary distant
nearby green blue red yellow white black golden silver wooden stone empty full clean dusty
sudden patient honest brave calm curious proud tired happy serious friendly modest ancient
modern fresh ripe sweet bitter plain rich poor steady narrow hidden open closed broken
certain common rare useful private public northern southern eastern western
"""
)

_ADVERBS = _words(
    """
slowly quickly quietly carefully gently suddenly finally almost always often rarely never
already soon later together alone again certainly perhaps clearly simply nearly early
"""
)

_PREPOSITIONS = _words(
    """
across along around behind beside beyond near over under through toward into onto from
between past inside outside above below
"""
)

_PEOPLE = _words(
    """
Anna Ben Clara David Elena Felix Grace Henry Iris Jonah Karl Lena Marta Nora Oscar Paula
Quentin Rosa Samuel Tessa Ulrich Vera Walter Yusuf Zara
"""
)

_TIMES = tuple(
    [
        "In the morning",
        "At noon",
        "Later that day",
        "By evening",
        "Before dawn",
        "After the storm",
        "During the winter",
        "In those years",
        "On the next day",
        "Once a week",
        "Every spring",
        "At the end of the season",
    ]
)


def _noun_phrase(rng: random.Random) -> str:
    noun = rng.choice(_NOUNS)
    roll = rng.random()
    if roll < 0.35:
        return f"the {rng.choice(_ADJECTIVES)} {noun}"
    if roll < 0.55:
        return f"a {rng.choice(_ADJECTIVES)} {noun}"
    if roll < 0.7:
        return f"{rng.choice(_PEOPLE)}'s {noun}"
    if roll < 0.8:
        return f"{rng.randint(2, 40)} {noun}s"
    return f"the {noun}"


def _sentence(rng: random.Random) -> str:
    form = rng.randrange(7)
    if form == 0:
        s = (
            f"{_noun_phrase(rng)} {rng.choice(_VERBS)} {_noun_phrase(rng)} "
            f"{rng.choice(_PREPOSITIONS)} {_noun_phrase(rng)}"
        )
    elif form == 1:
        s = f"{rng.choice(_PEOPLE)} {rng.choice(_ADVERBS)} {rng.choice(_VERBS)} {_noun_phrase(rng)}"
    elif form == 2:
        s = (
            f"{rng.choice(_TIMES).strip()}, {_noun_phrase(rng)} {rng.choice(_INTRANSITIVE)} "
            f"{rng.choice(_PREPOSITIONS)} {_noun_phrase(rng)}"
        )
    elif form == 3:
        s = (
            f"{_noun_phrase(rng)} was {rng.choice(_ADJECTIVES)}, and {_noun_phrase(rng)} "
            f"{rng.choice(_INTRANSITIVE)} {rng.choice(_ADVERBS)}"
        )
    elif form == 4:
        s = (
            f"when {rng.choice(_PEOPLE)} {rng.choice(_INTRANSITIVE)}, {_noun_phrase(rng)} "
            f"{rng.choice(_VERBS)} {_noun_phrase(rng)}"
        )
    elif form == 5:
        s = (
            f'"{rng.choice(_ADVERBS).capitalize()} the {rng.choice(_NOUNS)} is '
            f'{rng.choice(_ADJECTIVES)}," said {rng.choice(_PEOPLE)}'
        )
    else:
        s = (
            f"there were {rng.randint(2, 90)} {rng.choice(_NOUNS)}s {rng.choice(_PREPOSITIONS)} "
            f"{_noun_phrase(rng)}; {_noun_phrase(rng)} {rng.choice(_VERBS)} them "
            f"{rng.choice(_ADVERBS)}"
        )
    end = "?" if form == 4 and rng.random() < 0.2 else "."
    return s[0].upper() + s[1:] + end


@functools.lru_cache(maxsize=1)
def corpus_text(words: int = 60_000, seed: int = 20240601) -> str:
    """Deterministic English-like prose of about ``words`` words, in paragraphs."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    total = 0
    while total < words:
        sentences = [_sentence(rng) for _ in range(rng.randint(3, 8))]
        paragraph = " ".join(sentences)
        total += paragraph.count(" ") + 1
        paragraphs.append(paragraph)
    return "\n\n".join(paragraphs) + "\n"


@functools.lru_cache(maxsize=1)
def corpus_words() -> tuple[str, ...]:
    """The distinct plain lowercase words of the corpus vocabulary, sorted."""
    words = set(_NOUNS) | set(_VERBS) | set(_INTRANSITIVE) | set(_ADJECTIVES) | set(_ADVERBS)
    return tuple(sorted(w for w in words | set(_PREPOSITIONS) if w.isalpha()))
