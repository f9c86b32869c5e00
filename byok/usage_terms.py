"""What the usage rows mean, as SQL: one definition each, read by /usage, limits and digests.

A row is ``pending`` while its attempt runs. An answer's ``cost`` is NULL when its price
is unknown (never $0); a failed or cancelled attempt the provider may have billed keeps
its worst case in ``reserved_cost``, which counts against a limit like a cost. A
``cached`` row is a question answered from the user's response cache: no provider was
called, it costs 0 (so it is neither failed, nor spend, nor unpriced) and ``saved_cost``
is what the answer cost when first asked (NULL: unknown).
"""

from __future__ import annotations

from sqlalchemy import and_, case, func

from byok.db.tables import UsageEvent

__all__ = [
    "CACHED",
    "FAILED",
    "FALLBACK",
    "FINISHED",
    "HELD",
    "SAVED",
    "SAVED_UNKNOWN",
    "SPEND",
    "UNPRICED",
    "UNPRICED_UNCOUNTED",
]

_E = UsageEvent.__table__.c

#: The attempt has ended, one way or another.
FINISHED = _E.outcome != "pending"
#: 1 for an attempt that did not answer (an error or a cancel), else 0.
FAILED = case((_E.outcome.not_in(("success", "cached")), 1), else_=0)
#: 1 for a question answered from the response cache (no provider called), else 0.
CACHED = case((_E.outcome == "cached", 1), else_=0)
#: What a cached answer saved (its original cost), else NULL; NULL too when unknown.
SAVED = case((_E.outcome == "cached", _E.saved_cost), else_=None)
#: 1 for a cached answer whose saving is unknown (the original's price was), else 0.
SAVED_UNKNOWN = case((and_(_E.outcome == "cached", _E.saved_cost.is_(None)), 1), else_=0)
#: 1 for an attempt at a fallback provider, else 0.
FALLBACK = case((_E.is_fallback, 1), else_=0)
#: 1 for an answer whose price is unknown, else 0.
UNPRICED = case((and_(_E.outcome == "success", _E.cost.is_(None)), 1), else_=0)
#: Counted against a limit: the real cost, else the reservation still held.
SPEND = func.coalesce(_E.cost, _E.reserved_cost)
#: 1 for an answer of unknown price that holds nothing against a limit (a SPEND sum
#: leaves it out), else 0.
UNPRICED_UNCOUNTED = case(
    (and_(_E.outcome == "success", _E.cost.is_(None), _E.reserved_cost.is_(None)), 1),
    else_=0,
)
#: What a failed attempt the provider may have billed holds (its worst case), else NULL.
#: An answer of unknown price under a limit holds its worst case too, but is counted
#: with UNPRICED instead.
HELD = case(
    (and_(_E.cost.is_(None), _E.outcome.not_in(("success", "cached"))), _E.reserved_cost),
    else_=None,
)
