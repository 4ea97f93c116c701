"""Card numbers (PANs) kept out of what the platform stores (SEC-1): the Luhn check that tells one, and
the redaction of any in free text (a ticket note, a reason) before it reaches a command or an event.
Pure."""

import re

_CARD = re.compile(r"[0-9]{13,19}")
# Digits in groups separated by single spaces or hyphens, as a card number is typed ("4111 1111 ...").
_CHAIN = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_GROUP = re.compile(r"[0-9]+")


def luhn_valid(digits: str) -> bool:
    """The Luhn check of card numbers (ISO/IEC 7812): 13 to 19 digits whose checksum is 0 mod 10."""
    if not _CARD.fullmatch(digits):
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char) * (2 if i % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def redact_card_numbers(text: str) -> str:
    """`text` with every card number in it masked but for its last four digits, as PCI DSS allows them
    shown, however it is typed ("4111111111111111", "4111 1111 1111 1111", "4111-1111-..."): any run of
    whole digit groups holding 13 to 19 digits that pass Luhn. Other numbers stay as they are, but for
    the rare one that passes as a card: masking too much is the safe side."""

    def masked(chain: re.Match[str]) -> str:
        written = chain.group()
        groups = [range(*found.span()) for found in _GROUP.finditer(written)]
        hidden: set[int] = set()
        for first in range(len(groups)):
            positions: list[int] = []
            for group in groups[first:]:
                positions += group
                if len(positions) > 19:
                    break
                if len(positions) >= 13 and luhn_valid("".join(written[p] for p in positions)):
                    hidden.update(positions[:-4])
        return "".join("*" if p in hidden else char for p, char in enumerate(written))

    return _CHAIN.sub(masked, text)
