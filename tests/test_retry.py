"""`RetryPolicy.run`: the first try is made directly, the rest through tenacity, on one
schedule: how many tries, which pauses, and what the caller sees when trying stops."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.retry import GiveUp, RetryPolicy


class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


class Wrong(Exception):
    pass


class Policy:
    def __init__(self, tries: int, **kwargs: float) -> None:
        self.pauses: list[float] = []
        self.policy = RetryPolicy(max_tries=tries, sleep=self.sleep, **kwargs)

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)


def failing(times: int, error: Exception, calls: list[int]) -> Callable[[], Awaitable[str]]:
    async def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"
    return call


async def test_a_first_success_makes_one_try_and_no_pause() -> None:
    p, calls = Policy(5), list[int]()
    assert await p.policy.run(failing(0, Flaky(), calls), lambda e: True) == "done"
    assert (len(calls), p.pauses) == (1, [])


async def test_retry_after_paces_every_retry_until_success() -> None:
    p, calls = Policy(5), list[int]()
    assert await p.policy.run(failing(3, Flaky(2.0), calls), lambda e: True) == "done"
    assert (len(calls), p.pauses) == (4, [2.0, 2.0, 2.0])


async def test_out_of_tries_after_exactly_max_tries_with_every_error_kept() -> None:
    p, calls = Policy(4), list[int]()
    with pytest.raises(GiveUp, match="out of tries") as info:
        await p.policy.run(failing(99, Flaky(1.0), calls), lambda e: True)
    assert (len(calls), p.pauses, len(info.value.tries)) == (4, [1.0, 1.0, 1.0], 4)


@pytest.mark.parametrize("fails", [1, 3])
async def test_a_permanent_error_stops_at_once_whichever_try_it_comes_on(fails: int) -> None:
    p, calls = Policy(6), list[int]()
    errors: list[Exception] = [Flaky(0.5)] * (fails - 1) + [Wrong()]

    async def call() -> str:
        calls.append(1)
        raise errors[len(calls) - 1]

    with pytest.raises(GiveUp, match="permanent"):
        await p.policy.run(call, lambda e: isinstance(e, Flaky))
    assert (len(calls), len(p.pauses)) == (fails, fails - 1)


@pytest.mark.parametrize("fails", [1, 9])
async def test_a_passthrough_error_propagates_as_it_is(fails: int) -> None:
    p, calls = Policy(3), list[int]()
    error = Flaky(0.1) if fails > 1 else Wrong()
    with pytest.raises(type(error)) as info:
        await p.policy.run(failing(fails, error, calls), lambda e: isinstance(e, Flaky),
                            passthrough=(Flaky, Wrong))
    assert info.value is error and info.value.__cause__ is None
    assert len(calls) == min(fails, 3)


async def test_backoff_grows_under_its_cap_with_full_jitter() -> None:
    p, calls = Policy(7, base=1.0, cap=5.0), list[int]()
    with pytest.raises(GiveUp):
        await p.policy.run(failing(99, Flaky(), calls), lambda e: True)
    bounds = [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]  # base * 2**(n-1), at most the cap
    assert len(p.pauses) == 6
    assert all(0 <= pause <= bound for pause, bound in zip(p.pauses, bounds, strict=True))
