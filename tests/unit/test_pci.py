"""Card numbers in free text (SEC-1): masked but for their last four digits however they are typed,
also when another number follows; other numbers (phone numbers, order numbers, numbers that fail Luhn)
stay as they are."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.pci import luhn_valid, redact_card_numbers


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("card 4111111111111111 please", "card ************1111 please"),
        ("4111 1111 1111 1111", "**** **** **** 1111"),
        ("4111-1111-1111-1111.", "****-****-****-1111."),
        ("4111111111111111 2", "************1111 2"),  # a card then another number
        ("amex 378282246310005, visa 4012888888881881", "amex ***********0005, visa ************1881"),
        ("call me on +82 10 1234 5678", "call me on +82 10 1234 5678"),
        ("order 4111111111111112", "order 4111111111111112"),  # fails Luhn
        ("41111111111111110000", "41111111111111110000"),  # 20 digits: no card
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
