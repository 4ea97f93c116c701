"""The demo's contact centre and its traffic, as data: who works where with which skills, and when
callers arrive, what they press, how patient they are and how long they talk. Seeded, so a run can
be repeated."""

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoAgent:
    agent_id: str
    name: str
    site_id: str
    skills: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Caller:
    arrives_after: float  # seconds from the start
    ani: str
    digits: tuple[str, ...]  # what they press, in order (an unknown digit first replays the menu)
    patience: float  # seconds they wait in the queue before hanging up
    talk_time: float  # seconds of conversation once answered
    # The queue their agent transfers them to halfway through the talk (TEL-1); "" for none.
    transfer_to: str = ""
    # Out of patience, they accept a callback that keeps their place rather than hang up (TEL-5), and
    # miss its first attempt.
    accepts_callback: bool = False
    misses_first_callback: bool = False


AGENTS = (
    DemoAgent("seoul-01", "Kim Minji", "seoul", (("member", 9), ("general", 5))),
    DemoAgent("seoul-02", "Lee Jiho", "seoul", (("member", 7), ("general", 6))),
    DemoAgent("seoul-03", "Park Seoyeon", "seoul", (("member", 6), ("payment", 4))),
    DemoAgent("seoul-04", "Choi Dohyun", "seoul", (("payment", 8), ("general", 5))),
    DemoAgent("seoul-05", "Jung Haeun", "seoul", (("payment", 7),)),
    DemoAgent("seoul-06", "Kang Minjun", "seoul", (("general", 8), ("member", 5))),
    DemoAgent("busan-01", "Yoon Seojun", "busan", (("member", 8),)),
    DemoAgent("busan-02", "Jang Yuna", "busan", (("member", 6), ("general", 7))),
    DemoAgent("busan-03", "Lim Jiwoo", "busan", (("payment", 9), ("member", 4))),
    DemoAgent("busan-04", "Han Eunwoo", "busan", (("payment", 6), ("general", 6))),
    DemoAgent("busan-05", "Oh Sua", "busan", (("general", 9),)),
    DemoAgent("busan-06", "Seo Hajun", "busan", (("payment", 5), ("member", 5))),
)
# IVR choices: 1 member, 2 payment, 3 other (announcement), 9 agent.
MENU_CHOICES = (("1", 0.40), ("2", 0.35), ("3", 0.08), ("9", 0.17))
# The share of member and payment callers whose agent transfers them to general.
TRANSFER_CHANCE = 0.08
# The share of callers out of patience who accept a callback, and of those who miss its first attempt.
CALLBACK_CHANCE, MISSED_CALLBACK_CHANCE = 0.4, 0.3


def callers(count: int, over_seconds: float, seed: int = 7) -> list[Caller]:
    """Poisson arrivals (exponential gaps) spread over `over_seconds`, exponential patience and talk time,
    drawn from a pool of repeat callers so some customers call more than once."""
    rng = random.Random(seed)
    rate = count / over_seconds
    pool = [f"+8210{rng.randrange(10_000_000, 99_999_999)}" for _ in range(max(1, count // 3))]
    at, result = 0.0, []
    for _ in range(count):
        at += rng.expovariate(rate)
        choice = rng.choices([d for d, _ in MENU_CHOICES], weights=[w for _, w in MENU_CHOICES])[0]
        digits = ("5", choice) if rng.random() < 0.06 else (choice,)
        result.append(
            Caller(
                arrives_after=at,
                ani=rng.choice(pool),
                digits=digits,
                patience=rng.expovariate(1 / 25.0) + 3.0,
                talk_time=rng.expovariate(1 / 4.0) + 2.0,
                transfer_to="general" if choice in "12" and rng.random() < TRANSFER_CHANCE else "",
                accepts_callback=rng.random() < CALLBACK_CHANCE,
                misses_first_callback=rng.random() < MISSED_CALLBACK_CHANCE,
            )
        )
    return result
