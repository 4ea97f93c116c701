"""A board table recovery that reads nothing for a while, with records still to read, is started again;
one that moves, or has nothing left to read, or is not running, is left alone."""

from services.routing.stream.recovery_watch import RecoveryWatch


def test_a_recovery_that_reads_nothing_for_the_stall_time_is_started_again_once_per_stall() -> None:
    watch = RecoveryWatch(stall_seconds=20)
    assert not watch.stalled(True, {"p3": 0}, remaining=1140, now=100)
    assert not watch.stalled(True, {"p3": 0}, remaining=1140, now=119.9)
    assert watch.stalled(True, {"p3": 0}, remaining=1140, now=120)
    assert not watch.stalled(True, {"p3": 0}, remaining=1140, now=130)  # a rejoin takes its time
    assert watch.stalled(True, {"p3": 0}, remaining=1140, now=140)


def test_a_recovery_that_moves_is_never_stalled() -> None:
    watch = RecoveryWatch(stall_seconds=20)
    for step in range(10):
        assert not watch.stalled(True, {"p3": step * 100}, remaining=1140 - step * 100, now=15.0 * step)


def test_nothing_left_to_read_or_no_recovery_is_no_stall_and_starts_the_clock_again() -> None:
    watch = RecoveryWatch(stall_seconds=20)
    assert not watch.stalled(True, {"p3": 0}, remaining=5, now=0)
    assert not watch.stalled(True, {"p3": 0}, remaining=0, now=30)  # waiting on the last one is no stall
    assert not watch.stalled(False, {"p3": 0}, remaining=5, now=40)
    assert not watch.stalled(True, {"p3": 0}, remaining=5, now=50)  # a new recovery: the clock starts here
    assert watch.stalled(True, {"p3": 0}, remaining=5, now=70)
