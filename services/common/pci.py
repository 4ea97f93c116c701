"""Card numbers (PANs) kept out of what the platform stores (SEC-1): the Luhn check that tells one, and
the redaction of any in a ticket's free text (a note, a reason) before it reaches a command or an
event; telephony masks keypad entries that hold one. Pure."""

import re
import unicodedata

_CARD = re.compile(r"[0-9]{13,19}")
# Digits (of any script: full-width too) in groups separated by up to three spaces, dots, slashes,
# underscores, commas or dashes, as a card number gets typed or pasted ("4111 1111 ...", "4111-1111").
_CHAIN = re.compile(r"\d+(?:[\s.\-/_,\u2013\u2014]{1,3}\d+)*")
SHORTEST, LONGEST = 13, 19
_KEYED_RUN = re.compile(r"[0-9]{13,}")


def luhn_valid(digits: str) -> bool:
    """The Luhn check of card numbers (ISO/IEC 7812): 13 to 19 digits whose checksum is 0 mod 10."""
    if not _CARD.fullmatch(digits):
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def card_windows(digits: list[int]) -> list[tuple[int, int]]:
    """Every [start, end) of 13 to 19 consecutive digits that passes Luhn, in O(len(digits)): the Luhn
    sum counts a window's last digit as is and doubles every other one back from it, so a digit is
    doubled when its index's parity differs from the last one's; prefix sums of the digits as they are
    and doubled, per index parity, give each window's sum at once."""
    plain: tuple[list[int], list[int]] = ([0], [0])
    twice: tuple[list[int], list[int]] = ([0], [0])
    for index, digit in enumerate(digits):
        doubled = digit * 2 - 9 if digit > 4 else digit * 2
        for parity in (0, 1):
            mine = index % 2 == parity
            plain[parity].append(plain[parity][-1] + (digit if mine else 0))
            twice[parity].append(twice[parity][-1] + (doubled if mine else 0))
    found = []
    for end in range(SHORTEST, len(digits) + 1):
        last = (end - 1) % 2
        as_is, other = plain[last], twice[1 - last]
        for length in range(SHORTEST, min(LONGEST, end) + 1):
            start = end - length
            if (as_is[end] - as_is[start] + other[end] - other[start]) % 10 == 0:
                found.append((start, end))
    return found


def holds_card_number(digits: str) -> bool:
    """Whether a keypad entry holds a card number anywhere in it: a card followed by "#", an expiry date
    or a CVV is still one. Any text is safe to ask about (only its runs of 0-9 are read)."""
    return any(card_windows([int(c) for c in run]) for run in _KEYED_RUN.findall(digits))


def redact_card_numbers(text: str) -> str:
    """`text` with every card number in it masked but for its last four digits, as PCI DSS allows them
    shown, however it is typed: any 13 to 19 digits in a row of a chain of digit groups that pass Luhn,
    glued to other digits or not. Other numbers stay as they are, but for one that passes as a card
    (long numbers often hold a window that does): masking too much is the safe side."""

    def masked(chain: re.Match[str]) -> str:
        written = chain.group()
        where = [p for p, char in enumerate(written) if char.isdecimal()]
        if len(where) < SHORTEST:
            return written
        hidden: set[int] = set()
        for start, end in card_windows([unicodedata.decimal(written[p]) for p in where]):
            hidden.update(where[start : end - 4])
        return "".join("*" if p in hidden else char for p, char in enumerate(written))

    return _CHAIN.sub(masked, text)


def shows_card_number(text: str) -> bool:
    """Whether `text` holds a card number however it is written (in groups, with dashes): what a
    field that is kept as it is, never masked (an identifier, a name), must not."""
    return redact_card_numbers(text) != text
