"""Phone numbers as the platform takes them: a line's service numbers, the caller list's numbers and
customers' phone identifiers are written one way (2 to 20 digits, optionally after +), and compared as
their digits, so that a caller's ANI finds its customer."""

import re

NUMBER = re.compile(r"\+?[0-9]{2,20}")
NUMBER_RULE = "2 to 20 digits, optionally after +"
_WRITTEN = re.compile(r"\+?[0-9 ().-]+")


def canonical(number: str) -> str:
    """One way of writing a number, its digits, so that "+82 10-6666-0001", "+821066660001" and
    "821066660001" are one entry and one caller. (A national form such as 010-6666-0001 is not the
    international one: numbers are compared as written in digits, without a country's rules.)"""
    written = number.strip()
    return re.sub(r"[^0-9]", "", written) if _WRITTEN.fullmatch(written) else written
