"""The IVR menu (TEL-3): what each entry leads to, the replay rule and its boundary, menu validation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.telephony import ivr
from services.telephony.ivr import (
    Action,
    IvrMenu,
    JoinQueue,
    MenuOption,
    PlayAnnouncement,
    ReplayMenu,
    outcome_of,
)

MENU = ivr.MAIN_MENU


def menu(*options: MenuOption, max_replays: int = 3, default_queue: str = "fallback") -> IvrMenu:
    return IvrMenu(
        "test",
        "hello",
        "choose",
        options,
        default_queue_id=default_queue,
        default_skill=f"{default_queue}-skill",
        max_replays=max_replays,
    )


def test_the_main_menu_is_the_seed_product_menu() -> None:
    assert MENU.menu_id == "main"
    assert [(o.digit, o.action) for o in MENU.options] == [
        ("1", Action.QUEUE),
        ("2", Action.QUEUE),
        ("3", Action.ANNOUNCEMENT),
        ("9", Action.QUEUE),
    ]
    assert (MENU.default_queue_id, MENU.default_skill, MENU.max_replays) == ("general", "general", 3)


@pytest.mark.parametrize(
    ("digits", "queue"),
    [("1", "member"), ("2", "payment"), ("9", "general")],
)
@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 7])
def test_a_queue_option_joins_its_queue_on_any_play(digits: str, queue: str, attempt: int) -> None:
    assert outcome_of(MENU, digits, attempt) == JoinQueue(queue, queue, "menu-choice")


@pytest.mark.parametrize("attempt", [1, 4])
def test_the_announcement_option_plays_its_announcement(attempt: int) -> None:
    option = MENU.option("3")
    assert option is not None
    assert option.announcement

    assert outcome_of(MENU, "3", attempt) == PlayAnnouncement(option.announcement)


@pytest.mark.parametrize("attempt", [1, 2, 3])
@pytest.mark.parametrize("digits", ["0", "5", "*", "#", "11", "99"])
def test_an_unknown_entry_on_plays_one_to_three_replays_the_menu(digits: str, attempt: int) -> None:
    assert outcome_of(MENU, digits, attempt) == ReplayMenu(attempt + 1)


@pytest.mark.parametrize("attempt", [4, 5, 100])
def test_an_unknown_entry_after_the_last_replay_joins_the_default_queue(attempt: int) -> None:
    assert outcome_of(MENU, "0", attempt) == JoinQueue("general", "general", "ivr-retries-exhausted")


@pytest.mark.parametrize(("max_replays", "last_replaying_attempt"), [(0, 0), (1, 1), (2, 2), (5, 5)])
def test_the_replay_boundary_follows_max_replays(max_replays: int, last_replaying_attempt: int) -> None:
    custom = menu(MenuOption("1", "one", Action.QUEUE, "one", "one"), max_replays=max_replays)

    if last_replaying_attempt:
        assert outcome_of(custom, "7", last_replaying_attempt) == ReplayMenu(last_replaying_attempt + 1)
    assert outcome_of(custom, "7", last_replaying_attempt + 1) == JoinQueue(
        "fallback", "fallback-skill", "ivr-retries-exhausted"
    )


def test_option_lookup_is_by_exact_entry() -> None:
    assert MENU.option("1") is MENU.options[0]
    assert MENU.option("9") is MENU.options[3]
    for entry in ("", "11", "19", "91", " 1", "1#"):
        assert MENU.option(entry) is None


def test_multi_digit_options_are_matched_whole() -> None:
    custom = menu(
        MenuOption("12", "twelve", Action.QUEUE, "q12", "s12"),
        MenuOption("1", "one", Action.QUEUE, "q1", "s1"),
    )

    assert outcome_of(custom, "12", 1) == JoinQueue("q12", "s12", "menu-choice")
    assert outcome_of(custom, "1", 1) == JoinQueue("q1", "s1", "menu-choice")
    assert outcome_of(custom, "2", 1) == ReplayMenu(2)


def test_a_menu_with_duplicate_digits_is_refused() -> None:
    with pytest.raises(ValueError, match="menu dup has duplicate entry digits"):
        IvrMenu(
            "dup",
            "hello",
            "choose",
            (
                MenuOption("1", "a", Action.QUEUE, "a", "a"),
                MenuOption("2", "b", Action.QUEUE, "b", "b"),
                MenuOption("1", "c", Action.ANNOUNCEMENT, announcement="c"),
            ),
            default_queue_id="a",
            default_skill="a",
        )


def test_a_menu_with_distinct_digits_is_accepted() -> None:
    custom = menu(MenuOption("1", "a", Action.QUEUE, "a", "a"), MenuOption("11", "b", Action.QUEUE, "b", "b"))

    assert [o.digit for o in custom.options] == ["1", "11"]


@given(
    max_replays=st.integers(min_value=0, max_value=6),
    entries=st.lists(st.sampled_from(["0", "1", "5", "#"]), min_size=1, max_size=12),
)
def test_a_caller_walks_out_of_the_menu_after_at_most_max_replays_plus_one_entries(
    max_replays: int, entries: list[str]
) -> None:
    custom = menu(MenuOption("1", "one", Action.QUEUE, "one", "one-skill"), max_replays=max_replays)
    attempt, outcome = 1, None
    for used, entry in enumerate(entries, start=1):
        outcome = outcome_of(custom, entry, attempt)
        if not isinstance(outcome, ReplayMenu):
            assert used <= max_replays + 1
            break
        assert outcome.attempt == attempt + 1
        attempt = outcome.attempt
    else:
        assert len(entries) <= max_replays
        return
    assert isinstance(outcome, JoinQueue)
    if entry == "1":
        assert outcome == JoinQueue("one", "one-skill", "menu-choice")
    else:
        assert used == max_replays + 1
        assert outcome == JoinQueue("fallback", "fallback-skill", "ivr-retries-exhausted")
