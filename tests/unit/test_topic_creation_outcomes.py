"""What a process says after asking the broker for the topics it misses: those it created, those the
broker refused and why (a cluster's topic operator makes them), and nothing of one another made first."""

import logging

import pytest

from services.common.topics import _log_outcomes

AUTHORIZATION_FAILED, ALREADY_EXISTS = 29, 36


def test_created_and_refused_topics_are_told_apart(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="services.common.topics"):
        _log_outcomes(
            [
                ("a.events.v1", 0, None),
                ("b.events.v1", ALREADY_EXISTS, "exists"),
                ("c.events.v1", AUTHORIZATION_FAILED, "Authorization failed."),
            ]
        )
    created, refused = caplog.records
    assert created.levelno == logging.INFO and created.getMessage() == "created topics: a.events.v1"
    assert refused.levelno == logging.WARNING
    assert "c.events.v1 (TopicAuthorizationFailedError: Authorization failed.)" in refused.getMessage()
    assert "b.events.v1" not in created.getMessage() + refused.getMessage()
