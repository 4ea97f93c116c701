"""Category paths: the VOC categories (상담 유형) a line of business sorts its tickets by, as a tree
written as paths like "billing/refund". Telephony keeps each line's tree in its settings, and ticketing
refuses a ticket category that is not in its line's tree. One rule for both, with no I/O."""

import unicodedata
from collections.abc import Iterable

SEPARATOR = "/"
MAX_LEVELS = 5
EXAMPLE = "billing/refund"


def canonical(path: str) -> str:
    """The path in its one written form: each level without surrounding spaces, in Unicode NFC (a
    Korean category typed as composed syllables or as jamo is one category)."""
    return SEPARATOR.join(unicodedata.normalize("NFC", level.strip()) for level in path.split(SEPARATOR))


def problem(path: str) -> str | None:
    """What is wrong with a (non-empty) path, or None."""
    levels = path.split(SEPARATOR)
    if not all(level.strip() for level in levels):
        return f"has an empty level: write levels like {EXAMPLE}"
    if len(levels) > MAX_LEVELS:
        return f"has {len(levels)} levels, at most {MAX_LEVELS}"
    return None


def tree(paths: Iterable[str]) -> frozenset[str]:
    """Every path and each of its ancestors: a tree listed as its leaves holds its branches too."""
    found: set[str] = set()
    for path in paths:
        levels = canonical(path).split(SEPARATOR)
        found.update(SEPARATOR.join(levels[:depth]) for depth in range(1, len(levels) + 1))
    return frozenset(found)
