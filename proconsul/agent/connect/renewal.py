"""When an agent renews a leaf: at a random point between 60 % and 90 % of its
life (jitter spreads a cluster's renewals), at once past 90 % or for a leaf
living under ten minutes.
"""

from __future__ import annotations

import datetime
import random

__all__ = ["HARD_RENEW_FRACTION", "SOFT_RENEW_FRACTION", "next_renewal", "renewal_window"]

SOFT_RENEW_FRACTION = 0.6
HARD_RENEW_FRACTION = 0.9
MIN_LIFETIME = datetime.timedelta(minutes=10)


def renewal_window(now: datetime.datetime, valid_after: datetime.datetime,
                   valid_before: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The earliest and latest time to renew; (now, now) means renew now."""
    lifetime = valid_before - valid_after
    if lifetime < MIN_LIFETIME:
        return now, now
    soft = valid_after + lifetime * SOFT_RENEW_FRACTION
    hard = valid_after + lifetime * HARD_RENEW_FRACTION
    if now > hard:
        return now, now
    return max(soft, now), hard


def next_renewal(now: datetime.datetime, valid_after: datetime.datetime,
                 valid_before: datetime.datetime,
                 rng: random.Random | None = None) -> datetime.datetime:
    """A uniformly random time in the renewal window."""
    low, high = renewal_window(now, valid_after, valid_before)
    if high <= low:
        return low
    return low + (high - low) * (rng or random).random()
