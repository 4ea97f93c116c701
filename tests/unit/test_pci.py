"""Card numbers in free text (SEC-1): masked but for their last four digits however they are typed,
also glued to other digits or pasted in full-width digits; other numbers (phone numbers, short order
numbers) stay as they are, though a long number may hold a window that passes Luhn and is masked."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.pci import card_windows, holds_card_number, luhn_valid, redact_card_numbers

# "4111 1111 1111 1111" in full-width digits.
FULL_WIDTH = " ".join(["\uff14\uff11\uff11\uff11", *["\uff11" * 4] * 3])


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("card 4111111111111111 please", "card ************1111 please"),
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("4111-1111-1111-1111.", "****-****-****-1111."),
        ("4111111111111111 2", "*************111 2"),  # any 13 to 19 digits passing Luhn: safe side
        ("41111111111111112025", "**************112025"),  # a card and its expiry, typed together
        (FULL_WIDTH, "**** **** **** " + FULL_WIDTH[-4:]),  # full-width digits, as pasted
        ("4111\xa01111\xa01111\xa01111", "****\xa0****\xa0****\xa01111"),
        ("4111 - 1111 - 1111 - 1111", "**** - **** - **** - 1111"),
        ("amex 378282246310005, visa 4012888888881881", "amex ***********0005, visa ************1881"),
        ("call me on +82 10 1234 5678", "call me on +82 10 1234 5678"),
        ("order 123456789012", "order 123456789012"),  # 12 digits: no card
        ("ref 12345", "ref 12345"),
    ],
)
def test_card_numbers_are_masked_and_other_numbers_kept(text: str, kept: str) -> None:
    assert redact_card_numbers(text) == kept


CARDS = st.sampled_from(["4111111111111111", "4012888888881881", "378282246310005", "5555555555554444"])
NOISE = st.text(alphabet="0123456789 -x", max_size=8)


@given(st.lists(st.one_of(CARDS, NOISE), max_size=8).map("".join))
def test_no_card_number_survives_as_a_run_of_digits(text: str) -> None:
    """Card numbers among digits, spaces and hyphens: no 13 to 19 digits in a row passing Luhn are
    left, whatever is next to them."""
    redacted = redact_card_numbers(text)
    runs = "".join(c if c.isdigit() else " " for c in redacted).split()
    assert not [run for run in runs if luhn_valid(run)], (text, redacted)


@given(st.lists(st.integers(0, 9), max_size=45))
def test_the_windows_are_every_run_of_13_to_19_digits_that_passes_luhn(digits: list[int]) -> None:
    written = "".join(map(str, digits))
    every = {
        (start, end)
        for end in range(13, len(digits) + 1)
        for start in range(max(0, end - 19), end - 12)
        if luhn_valid(written[start:end])
    }
    assert set(card_windows(digits)) == every


@pytest.mark.parametrize(
    ("entry", "holds"),
    [
        ("4111111111111111", True),
        ("4111111111111111#", True),
        ("*41111111111111112025", True),
        ("12345#", False),
        ("000000000000:", False),  # any text is safe to ask about
        ("4111111111111111:x", True),
    ],
)
def test_a_keypad_entry_holds_a_card_number_with_a_terminator_an_expiry_or_a_cvv(
    entry: str, holds: bool
) -> None:
    assert holds_card_number(entry) is holds
