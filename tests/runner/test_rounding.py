"""Billed time from raw time: increments, modes, minimum."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bxops.rounding import RoundingMode, RoundingPolicy

policies = st.builds(
    RoundingPolicy,
    increment_seconds=st.integers(1, 4 * 3600),
    mode=st.sampled_from(list(RoundingMode)),
    minimum_seconds=st.integers(0, 4 * 3600),
)
raws = st.integers(0, 40 * 3600)


@pytest.mark.parametrize(
    ("mode", "raw", "billed"),
    [
        (RoundingMode.UP, 0, 900),  # the minimum
        (RoundingMode.UP, 1, 900),
        (RoundingMode.UP, 900, 900),
        (RoundingMode.UP, 901, 1800),
        (RoundingMode.NEAREST, 1349, 900),
        (RoundingMode.NEAREST, 1350, 1800),  # halves go up
        (RoundingMode.DOWN, 1799, 900),
        (RoundingMode.DOWN, 100, 900),  # lifted to the minimum
        (RoundingMode.DOWN, 7300, 7200),
    ],
)
def test_examples(mode: RoundingMode, raw: int, billed: int) -> None:
    assert RoundingPolicy(900, mode, 900).billed_seconds(raw) == billed


@given(policies, raws)
def test_billed_is_a_step_or_the_minimum(policy: RoundingPolicy, raw: int) -> None:
    billed = policy.billed_seconds(raw)
    assert billed >= policy.minimum_seconds
    assert billed % policy.increment_seconds == 0 or billed == policy.minimum_seconds


@given(policies, raws)
def test_distance_from_raw(policy: RoundingPolicy, raw: int) -> None:
    billed = policy.billed_seconds(raw)
    if billed == policy.minimum_seconds and billed > raw:
        return  # lifted to the minimum
    step = policy.increment_seconds
    if policy.mode is RoundingMode.UP:
        assert raw <= billed < raw + step
    elif policy.mode is RoundingMode.DOWN:
        assert raw - step < billed <= raw
    else:
        assert abs(billed - raw) * 2 <= step


@given(policies, raws, raws)
def test_monotonic(policy: RoundingPolicy, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert policy.billed_seconds(low) <= policy.billed_seconds(high)


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RoundingPolicy(0, RoundingMode.UP, 0)
    with pytest.raises(ValueError):
        RoundingPolicy(60, RoundingMode.UP, 0).billed_seconds(-1)
