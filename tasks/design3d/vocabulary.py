"""The shape vocabulary: which words the procedural generator understands.

A prompt is read as a bag of words (as in Rios et al., 2023). Each known word
moves some :class:`~.shape.ShapeParams` knobs; effects add up, so word order
does not matter except for *modifiers* ("very", "slightly", "not", ...) that
scale the next shape word. Filler words ("a", "with", "car") are known and do
nothing; every other word is ignored and reported.

Example:
    >>> parsed = parse_prompt("a very long sleek car with zebra stripes")
    >>> parsed.known
    ('very', 'long', 'sleek')
    >>> parsed.ignored
    ('zebra', 'stripes')
    >>> parsed.params.length > ShapeParams().length
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .shape import KNOBS, ShapeParams

__all__ = ["WORDS", "MODIFIERS", "FILLER", "VOCABULARY", "CATEGORIES", "ParsedPrompt", "parse_prompt", "word_effects"]

#: shape word -> knob changes, by category (``knob+delta`` separated by spaces)
CATEGORIES: dict[str, dict[str, str]] = {
    "body type": {
        "sedan": "length+.05 fastback-.1",
        "coupe": "height-.12 length-.05 fastback+.3 tumblehome+.1",
        "hatchback": "length-.15 tail_taper-.25 tail_length-.15",
        "wagon": "length+.1 tail_taper-.3 fastback-.2 tail_height+.2",
        "estate": "length+.1 tail_taper-.3 fastback-.2 tail_height+.2",
        "suv": "height+.3 clearance+.35 boxiness+.25 width+.15 wheel_size+.3 nose_bluntness+.15",
        "crossover": "height+.15 clearance+.2 wheel_size+.15",
        "van": "height+.35 boxiness+.3 nose_bluntness+.25 tail_taper-.35 length+.1",
        "minivan": "height+.3 boxiness+.2 nose_bluntness+.15 tail_taper-.3",
        "truck": "height+.3 boxiness+.45 nose_bluntness+.35 tail_taper-.4 wheel_size+.35 clearance+.35 length+.2",
        "pickup": "height+.2 boxiness+.35 nose_bluntness+.25 tail_taper-.35 wheel_size+.3 clearance+.3 length+.15",
        "bus": "height+.5 length+.4 boxiness+.5 nose_bluntness+.5 tail_taper-.5",
        "roadster": "height-.25 length-.1 tumblehome+.2",
        "convertible": "height-.2 tumblehome+.15",
        "limousine": "length+.45 fastback-.1",
        "racecar": "height-.3 width+.2 clearance-.25 nose_height-.25 nose_length+.2 spoiler+.6 tumblehome+.25",
        "supercar": "height-.28 width+.2 clearance-.2 nose_height-.2 nose_length+.15 spoiler+.4 fastback+.2",
        "pod": "boxiness-.35 nose_bluntness-.1 length-.25 tail_taper+.3 height+.05",
        "capsule": "boxiness-.3 length-.2 tail_taper+.25 nose_bluntness-.1",
    },
    "length": {
        "long": "length+.25",
        "short": "length-.25",
        "compact": "length-.2 width-.1",
        "stretched": "length+.3",
        "elongated": "length+.3 nose_length+.1",
        "extended": "length+.2",
        "stubby": "length-.3 tail_length-.2 nose_length-.2",
    },
    "height": {
        "low": "height-.2 clearance-.1",
        "tall": "height+.25",
        "high": "height+.2 clearance+.1",
        "flat": "height-.2 tumblehome+.1",
        "lowered": "clearance-.3 height-.1",
        "low-slung": "height-.3 clearance-.2",
        "raised": "clearance+.35",
        "lifted": "clearance+.4 wheel_size+.2",
        "towering": "height+.4",
    },
    "width": {
        "wide": "width+.25",
        "narrow": "width-.25",
        "slim": "width-.15 height-.05",
        "broad": "width+.2",
        "bulky": "width+.15 height+.15 boxiness+.15",
    },
    "roundness": {
        "round": "boxiness-.25",
        "rounded": "boxiness-.25",
        "curvy": "boxiness-.2 tumblehome+.1",
        "smooth": "boxiness-.15 nose_bluntness-.1",
        "soft": "boxiness-.15",
        "bubbly": "boxiness-.3 height+.1",
        "organic": "boxiness-.25",
        "boxy": "boxiness+.35 nose_bluntness+.2 tail_taper-.15",
        "square": "boxiness+.3",
        "angular": "boxiness+.2 nose_bluntness-.05",
        "blocky": "boxiness+.35 nose_bluntness+.15",
        "cubic": "boxiness+.45 nose_bluntness+.25 tail_taper-.25",
        "edgy": "boxiness+.15",
    },
    "taper": {
        "tapered": "tail_taper+.25 tail_length+.1",
        "teardrop": "tail_taper+.4 tail_length+.3 boxiness-.2 nose_bluntness-.1 fastback+.2",
        "boattail": "tail_taper+.35 tail_length+.25",
        "streamlined": "tail_taper+.25 nose_bluntness-.2 boxiness-.15 tail_length+.15",
        "fluid": "boxiness-.2 tail_taper+.15",
        "chopped": "tail_taper-.35 tail_length-.15",
        "truncated": "tail_taper-.3 tail_length-.1",
    },
    "tail": {
        "fastback": "fastback+.45 tail_taper+.1",
        "kammback": "tail_length+.2 tail_taper-.05 fastback+.2",
        "squareback": "tail_taper-.35 fastback-.3",
        "notchback": "fastback-.2",
        "ducktail": "tail_height+.2 spoiler+.3",
    },
    "nose": {
        "pointed": "nose_bluntness-.3 nose_length+.15",
        "pointy": "nose_bluntness-.3 nose_length+.15",
        "sharp": "nose_bluntness-.25",
        "needle": "nose_bluntness-.4 nose_length+.3",
        "blunt": "nose_bluntness+.35 nose_length-.15",
        "snub": "nose_bluntness+.25 nose_length-.2",
        "wedge": "nose_height-.35 nose_length+.15 nose_bluntness-.15",
        "bullet": "nose_bluntness-.2 boxiness-.25 tail_taper-.1",
        "shark": "nose_height-.2 nose_bluntness-.2 nose_length+.1",
    },
    "spoiler": {
        "spoiler": "spoiler+.7",
        "wing": "spoiler+.8",
        "winglet": "spoiler+.55",
        "clean": "spoiler-1 wheel_cover+.3 boxiness-.05",
    },
    "wheels": {
        "skirted": "wheel_cover+.7",
        "covered": "wheel_cover+.6",
        "enclosed": "wheel_cover+.6",
        "faired": "wheel_cover+.7",
        "exposed": "wheel_cover-.6",
        "offroad": "clearance+.4 wheel_size+.4 boxiness+.2",
        "rugged": "clearance+.25 boxiness+.25 wheel_size+.25",
    },
    "size": {
        "big": "wheel_size+.2 height+.1 width+.1",
        "large": "length+.1 width+.1 height+.1",
        "huge": "length+.2 width+.2 height+.2",
        "massive": "length+.2 width+.2 height+.25 boxiness+.15",
        "small": "length-.2 width-.15 height-.1",
        "tiny": "length-.3 width-.2 height-.1",
    },
    "adjective": {
        "sleek": "height-.1 boxiness-.2 nose_bluntness-.15 tail_taper+.15 tumblehome+.1",
        "aerodynamic": "tail_taper+.25 nose_bluntness-.25 boxiness-.15 wheel_cover+.3 tail_length+.15",
        "aggressive": "nose_height-.25 width+.15 height-.1 spoiler+.6 wheel_size+.2 boxiness+.1",
        "futuristic": "boxiness-.2 wheel_cover+.4 nose_length+.15 tail_taper+.15",
        "muscular": "width+.2 height+.05 boxiness+.15 wheel_size+.2",
        "sporty": "height-.15 clearance-.15 spoiler+.3 fastback+.2",
        "elegant": "length+.15 boxiness-.1 fastback+.15 height-.05",
        "retro": "boxiness+.1 nose_bluntness+.1",
        "classic": "boxiness+.1 fastback-.1",
        "tough": "boxiness+.2 clearance+.2",
        "heavy": "height+.1 boxiness+.15 width+.1",
        "light": "width-.1 height-.05",
        "fast": "height-.1 nose_bluntness-.1 tail_taper+.1",
        "efficient": "tail_taper+.2 wheel_cover+.3 nose_bluntness-.1",
        "minimalist": "spoiler-.5 boxiness-.05",
        "utilitarian": "boxiness+.2 height+.15 tail_taper-.2",
        "practical": "height+.1 tail_taper-.15",
        "luxurious": "length+.2 height+.05",
        "family": "height+.15 tail_taper-.15 length+.05",
        "slippery": "nose_bluntness-.2 tail_taper+.2 boxiness-.1",
        "sculpted": "boxiness-.1 tumblehome+.15",
    },
}

#: modifiers scale the effect of the next shape word
MODIFIERS: dict[str, float] = {
    "very": 1.6, "extremely": 2.2, "super": 1.8, "ultra": 2.0, "really": 1.4, "quite": 1.2,
    "slightly": 0.5, "somewhat": 0.6, "barely": 0.3, "not": -1.0, "no": -1.0, "without": -1.0,
}

#: words that are understood and carry no shape
FILLER: frozenset[str] = frozenset(
    "a an the and with of in on for to that is has having like shape shaped body design style styled "
    "form profile car vehicle automobile auto model concept version type wheel wheels".split()
)


def word_effects(spec: str) -> dict[str, float]:
    """Parse ``"length+.25 height-.1"`` into ``{"length": 0.25, "height": -0.1}``."""
    effects: dict[str, float] = {}
    for item in spec.split():
        match = re.fullmatch(r"([a-z_]+)([+-][0-9.]+)", item)
        if match is None or match.group(1) not in KNOBS:
            raise ValueError(f"bad word effect {item!r}: expected knob+delta with a knob from {KNOBS}")
        effects[match.group(1)] = float(match.group(2))
    return effects


#: shape word -> {knob: delta}
WORDS: dict[str, dict[str, float]] = {
    word: word_effects(spec) for table in CATEGORIES.values() for word, spec in table.items()
}

_ORDER = ("taper", "nose", "roundness", "height", "length", "width", "wheels", "tail", "spoiler", "adjective",
          "body type", "size")

#: every word the generator understands, for evolutionary operators: modifiers, then shape words
#: with the aerodynamically telling categories first (operators may read only a prefix)
VOCABULARY: tuple[str, ...] = tuple(MODIFIERS) + tuple(w for cat in _ORDER for w in CATEGORIES[cat])


@dataclass(frozen=True)
class ParsedPrompt:
    """What a prompt means: knob values, the words used, the words ignored."""

    params: ShapeParams
    known: tuple[str, ...]
    ignored: tuple[str, ...]


def _lookup(token: str) -> str | None:
    """The vocabulary entry for ``token`` (exact, then singular), or None."""
    for candidate in (token, token[:-1] if token.endswith("s") else None):
        if candidate and (candidate in WORDS or candidate in MODIFIERS or candidate in FILLER):
            return candidate
    return None


def _tokens(prompt: str) -> list[str]:
    """Lower-case words (letters and digits of any script); a hyphenated word is kept
    whole when known, else split."""
    out: list[str] = []
    for raw in re.findall(r"[^\W_]+(?:-[^\W_]+)*", prompt.lower()):
        out.extend([raw] if "-" not in raw or _lookup(raw) else raw.split("-"))
    return out


def parse_prompt(prompt: str, base: ShapeParams | None = None) -> ParsedPrompt:
    """Read ``prompt`` against the vocabulary, starting from ``base`` knobs."""
    base = base or ShapeParams()
    totals = dict.fromkeys(KNOBS, 0.0)
    known: list[str] = []
    ignored: list[str] = []
    scale = 1.0
    for token in _tokens(prompt):
        entry = _lookup(token)
        if entry is None:
            ignored.append(token)
            continue
        if entry in FILLER:
            continue
        known.append(entry)
        if entry in MODIFIERS:
            scale *= MODIFIERS[entry]
            continue
        for knob, delta in WORDS[entry].items():
            totals[knob] += scale * delta
        scale = 1.0
    values = base.as_dict()
    params = base.replace(**{k: values[k] + v for k, v in totals.items()})
    return ParsedPrompt(params=params, known=tuple(known), ignored=tuple(ignored))
