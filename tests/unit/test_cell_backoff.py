"""The cell's reconnect backoff: doubling up to a cap, and back to the start on a welcome."""

from __future__ import annotations

from cellwright.cells.session import BACKOFF_MAX_S, BACKOFF_START_S, Backoff


def test_backoff_doubles_with_every_attempt_up_to_the_cap() -> None:
    backoff = Backoff(start_s=0.2, max_s=1.0)
    assert [backoff.next_s() for _ in range(5)] == [0.2, 0.4, 0.8, 1.0, 1.0]


def test_a_welcome_starts_the_backoff_again_however_often_sessions_break() -> None:
    backoff = Backoff()
    for _ in range(10):  # welcomed, then the stream broke: an orchestrator restart
        backoff.reset()
        assert backoff.next_s() == BACKOFF_START_S


def test_failed_attempts_after_a_welcome_double_from_the_start_again() -> None:
    backoff = Backoff()
    for _ in range(10):
        backoff.next_s()
    assert backoff.next_s() == BACKOFF_MAX_S
    backoff.reset()
    assert [backoff.next_s() for _ in range(3)] == [BACKOFF_START_S, 2 * BACKOFF_START_S,
                                                     4 * BACKOFF_START_S]
