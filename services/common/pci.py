"""Card numbers (PANs) kept out of what the platform stores (SEC-1): the Luhn check that tells one, and
the redaction of any in free text (a ticket note, a reason) before it reaches a command or an event.
Pure."""

import re

_CARD = re.compile(r"[0-9]{13,19}")
# 13 to 19 digits, each group separated by at most one space or hyphen, not inside a longer number.
_WRITTEN_CARD = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")


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
    """`text` with every card number in it (as typed: "4111 1111 1111 1111", "4111-1111-...") masked but
    for its last four digits, as PCI DSS allows them shown; other numbers stay as they are."""

    def masked(found: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9]", "", found.group())
        return "*" * (len(digits) - 4) + digits[-4:] if luhn_valid(digits) else found.group()

    return _WRITTEN_CARD.sub(masked, text)
