"""Precise waits until an absolute ``perf_counter`` time, for the async client and the engine threads.

Why not just ``asyncio.sleep(target - now)``: the event loop's selector wakes with millisecond
granularity and late by its own scheduling, so plain sleeps overshoot by 1-2 ms, which is the whole
lateness budget at 500 req/s. We sleep coarsely until ``SPIN_MARGIN_S`` before the target, then yield
to the loop in a tight loop (``asyncio.sleep(0)``), so responses of other requests keep being read while
we wait the last fraction of a millisecond. The thread variant spins on ``time.sleep(0)`` (a GIL
release) for the same reason.
"""

from __future__ import annotations

import asyncio
import time

SPIN_MARGIN_S = 0.002


async def sleep_until(target_s: float, spin_margin_s: float = SPIN_MARGIN_S) -> None:
    """Return at (or just after) perf_counter time ``target_s``; never before."""
    remaining = target_s - time.perf_counter()
    if remaining > spin_margin_s:
        await asyncio.sleep(remaining - spin_margin_s)
    while time.perf_counter() < target_s:
        await asyncio.sleep(0)


def sleep_until_blocking(target_s: float, spin_margin_s: float = SPIN_MARGIN_S) -> None:
    """Thread version of `sleep_until`: coarse sleep, then a GIL-releasing spin."""
    remaining = target_s - time.perf_counter()
    if remaining > spin_margin_s:
        time.sleep(remaining - spin_margin_s)
    while time.perf_counter() < target_s:
        time.sleep(0)
