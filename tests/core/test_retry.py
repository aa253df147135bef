"""The backoff policy and the retry decisions (tether.core.retry), without I/O."""

from __future__ import annotations

import ssl

import pytest

from tether.core.retry import (
    DEFAULT_RETRY_ON_CLOSE,
    Backoff,
    Reconnector,
    describing_close_code,
    process_exception,
    should_retry_close,
)
from tether.exceptions import InvalidHandshake, InvalidMessage, InvalidStatus, InvalidURI


def test_defaults_follow_websockets_shape() -> None:
    b = Backoff()
    assert b.factor == pytest.approx(1.618)
    assert b.max == 60.0
    assert 0 < b.initial <= 5


def test_base_grows_by_factor_up_to_the_cap() -> None:
    b = Backoff(initial=1.0, factor=2.0, max=10.0)
    assert [b.base(n) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert b.base(10_000) == 10.0  # no overflow for long outages


def test_jitter_stays_within_bounds_and_never_reaches_zero() -> None:
    b = Backoff(initial=2.0, factor=1.0, max=2.0, jitter=0.5)
    assert b.delay(0, rand=lambda: 0.0) == 2.0
    assert b.delay(0, rand=lambda: 0.999999) == pytest.approx(1.0, abs=1e-5)
    no_jitter = Backoff(initial=2.0, jitter=0.0)
    assert no_jitter.delay(0, rand=lambda: 0.7) == 2.0


@pytest.mark.parametrize("kwargs", [
    {"initial": 0.0}, {"initial": -1.0}, {"factor": 0.5},
    {"initial": 5.0, "max": 1.0}, {"jitter": 1.0}, {"jitter": -0.1},
])
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_base_refuses_negative_attempts() -> None:
    with pytest.raises(ValueError):
        Backoff().base(-1)


def test_reconnector_counts_attempts_and_resets_after_a_healthy_connection() -> None:
    r = Reconnector(Backoff(initial=1.0, factor=2.0, max=8.0, jitter=0.0))
    assert [r.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert r.attempt == 5
    r.connection_lasted(0.5)  # opened then closed at once: no reset, the wait keeps growing
    assert r.next_delay() == 8.0
    r.connection_lasted(8.0)  # stayed up for the cap (reset_after=None means max)
    assert r.attempt == 0
    assert r.next_delay() == 1.0


def test_reset_after_can_be_set() -> None:
    r = Reconnector(Backoff(initial=1.0, factor=2.0, max=8.0, jitter=0.0, reset_after=2.0))
    r.next_delay()
    r.next_delay()
    r.connection_lasted(1.9)
    assert r.attempt == 2
    r.connection_lasted(2.0)
    assert r.attempt == 0


def test_accept_then_close_never_spins() -> None:
    # A server that accepts and closes at once: over 1 s of waiting, few attempts.
    r = Reconnector(Backoff(initial=0.05, factor=2.0, max=10.0))
    waited, attempts = 0.0, 0
    while waited < 1.0:
        r.connection_lasted(0.0)
        waited += r.next_delay()
        attempts += 1
    assert 2 <= attempts <= 7


@pytest.mark.parametrize("rcvd, sent, rcvd_then_sent, expected", [
    (1000, 1000, True, 1000),     # the server closed; we echoed
    (1000, 4001, False, 4001),    # we closed first
    (1012, None, None, 1012),     # the server closed; we never answered
    (None, 1011, False, 1011),    # we failed it (a keepalive timeout)
    (None, None, None, 1006),     # dropped
])
def test_describing_close_code(rcvd: int | None, sent: int | None,
                               rcvd_then_sent: bool | None, expected: int) -> None:
    assert describing_close_code(rcvd, sent, rcvd_then_sent) == expected


@pytest.mark.parametrize("code", [1001, 1006, 1011, 1012, 1013, 1014])
def test_codes_that_are_retried(code: int) -> None:
    assert should_retry_close(code)


@pytest.mark.parametrize("code", [1000, 1002, 1003, 1005, 1007, 1008, 1009, 1010, 4000])
def test_codes_that_end_the_reconnection(code: int) -> None:
    assert not should_retry_close(code)


def test_retry_on_close_is_the_users_choice() -> None:
    assert should_retry_close(1000, {1000})
    assert not should_retry_close(1006, set())
    assert 1000 not in DEFAULT_RETRY_ON_CLOSE and 1008 not in DEFAULT_RETRY_ON_CLOSE


def _eof_message() -> InvalidMessage:
    exc = InvalidMessage("the server closed the connection during the handshake")
    exc.__cause__ = EOFError()
    return exc


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(), ConnectionResetError(), TimeoutError(), OSError("unreachable"),
    _eof_message(),
    InvalidStatus(503, "Service Unavailable", [], b""),
    InvalidStatus(502, "Bad Gateway", [], b""),
    InvalidStatus(429, "Too Many Requests", [], b""),
])
def test_transient_errors_are_retried(exc: Exception) -> None:
    assert process_exception(exc) is None


@pytest.mark.parametrize("exc", [
    InvalidStatus(401, "Unauthorized", [], b""),
    InvalidStatus(404, "Not Found", [], b""),
    InvalidMessage("malformed status line"),
    InvalidURI("http://x", "scheme isn't ws or wss"),
    InvalidHandshake("bad accept"),
    ssl.SSLCertVerificationError(1, "certificate verify failed"),
    ValueError("a bug"),
])
def test_lasting_errors_are_raised(exc: Exception) -> None:
    assert process_exception(exc) is exc
