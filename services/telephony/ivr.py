"""The IVR menu and what a caller's digits lead to (TEL-3). Pure: no clock, no I/O.

The default menu is the one of the seed product: "member enquiries 1, payment enquiries 2, other
enquiries 3, agent 9". An unrecognised entry replays the menu; after `max_replays` replays the next
unrecognised entry sends the caller to the default queue rather than dropping them.
"""

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    QUEUE = "queue"
    ANNOUNCEMENT = "announcement"


@dataclass(frozen=True)
class MenuOption:
    digit: str
    label: str
    action: Action
    queue_id: str = ""
    required_skill: str = ""
    announcement: str = ""


@dataclass(frozen=True)
class IvrMenu:
    menu_id: str
    greeting: str
    prompt: str
    options: tuple[MenuOption, ...]
    default_queue_id: str
    default_skill: str
    max_replays: int = 3

    def __post_init__(self) -> None:
        digits = [option.digit for option in self.options]
        if len(set(digits)) != len(digits):
            raise ValueError(f"menu {self.menu_id} has duplicate entry digits: {digits}")

    def option(self, digits: str) -> MenuOption | None:
        return next((option for option in self.options if option.digit == digits), None)


@dataclass(frozen=True)
class JoinQueue:
    queue_id: str
    required_skill: str
    reason: str


@dataclass(frozen=True)
class PlayAnnouncement:
    text: str


@dataclass(frozen=True)
class ReplayMenu:
    attempt: int


IvrOutcome = JoinQueue | PlayAnnouncement | ReplayMenu


def outcome_of(menu: IvrMenu, digits: str, attempt: int) -> IvrOutcome:
    """What happens when a caller on play number `attempt` (1 = first play) of `menu` enters `digits`."""
    option = menu.option(digits)
    if option is None:
        if attempt <= menu.max_replays:
            return ReplayMenu(attempt + 1)
        return JoinQueue(menu.default_queue_id, menu.default_skill, "ivr-retries-exhausted")
    if option.action is Action.ANNOUNCEMENT:
        return PlayAnnouncement(option.announcement)
    return JoinQueue(option.queue_id, option.required_skill, "menu-choice")


MAIN_MENU = IvrMenu(
    menu_id="main",
    greeting="안녕하세요. 모바일컨택 고객센터입니다.",
    prompt=(
        "다음 안내에 따라 원하는 서비스 번호를 눌러주시기 바랍니다. "
        "회원문의는 1번, 결제문의는 2번, 기타문의는 3번, 상담사 연결은 9번을 눌러주세요."
    ),
    options=(
        MenuOption("1", "member enquiries", Action.QUEUE, queue_id="member", required_skill="member"),
        MenuOption("2", "payment enquiries", Action.QUEUE, queue_id="payment", required_skill="payment"),
        MenuOption(
            "3",
            "other enquiries",
            Action.ANNOUNCEMENT,
            announcement="기타 문의는 홈페이지 고객센터를 이용해 주시기 바랍니다. 감사합니다.",
        ),
        MenuOption("9", "agent", Action.QUEUE, queue_id="general", required_skill="general"),
    ),
    default_queue_id="general",
    default_skill="general",
)
