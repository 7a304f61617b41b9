"""The per-client budget of expensive routes."""

from slidepacs.web.rate_limit import RateLimiter


def test_a_client_over_its_budget_waits_until_the_oldest_request_leaves_the_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 10.0, lambda: now[0])
    assert limiter.allow("a") == 0 and limiter.allow("a") == 0
    now[0] = 4.0
    assert limiter.allow("a") == 6.0
    assert limiter.allow("b") == 0  # another client has its own budget
    now[0] = 10.0
    assert limiter.allow("a") == 0
