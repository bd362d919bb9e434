"""Queue models: where a resting limit order stands in its price level's queue, and how much of the
trades at exactly its price reach it. The replay venue's models (`exchange.queue_model` in
`configs/replay_venue*.yaml`) implement `QueueModel`, after hftbacktest's
``src/backtest/models/queue.rs`` (its names, its arithmetic). Trades *through* the order's price,
or the opposite touch crossing it, fill it whatever the model (`Exchange.on_market`).

- `NoQueueModel` (``none``, the default): a trade at exactly the price never reaches the order
  (the most pessimistic: only the market going through it fills it).
- `RiskAverseQueueModel` (``risk_averse``, hftbacktest's ``RiskAdverseQueueModel``): the queue ahead
  is the level's displayed size when the order rests; trades at the price on its side (a sell
  aggressor for a buy) reduce it; a level decrease only clips it to the new level size (the
  cancellations are assumed behind us).
- `PowerProbQueueModel` (``prob``, hftbacktest's ``ProbQueueModel`` with ``PowerProbQueueFunc``): as
  risk-averse, but a decrease not explained by the trades since the last level update is split by
  p = back^n / (back^n + front^n) (`queue_power` n) and only its front share (1 - p) is taken from
  the queue ahead.

Once the trades have used up the queue ahead, the excess fills the order (maker, at its price, in
whole lots; partial fills possible): `QueuePosition.executed`.

The backtest makes the risk-averse assumption with Nautilus 1.231's own queue position
(`venue.queue_position` in `configs/backtest.yaml`, on by default for maker modes; rules read in its
``backtest/engine.pyx``, which way each errs): the queue ahead is the displayed size at the order's
price when it arrives (neutral; hidden size and orders in flight are unseen: optimistic); only trades
at the price reduce it, and only on the order's side (trades without an aggressor reduce both:
optimistic); a fill takes at most the trade's size beyond the queue ahead (neutral); size decreases
never move the order forward (pessimistic: some of the cancellations were ahead of it); a DELETE of
the level, a snapshot or a CLEAR sets it to 0 (DELETE: right; snapshot and CLEAR: optimistic); a
modify goes to the back (right: the strategy cancels and re-posts anyway). That is `risk_averse`
above, apart from the level decrease (Nautilus never clips the queue ahead to a smaller level: more
pessimistic where `risk_averse` clips) and the resets; issue 23 reports the two measured to agree.
The replayed market never reacts to our orders in either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class QueuePosition:
    """A resting order's place at its price level (hftbacktest's `QueuePos`): `front` is the size
    ahead of it (negative: trades went that far past it), `level` the level's size at the last
    look, `traded` the size traded at the price since the last level update (`PowerProbQueueModel`)."""

    front: float
    level: float
    traded: float = 0.0

    def trade(self, qty: float) -> None:
        self.front -= qty
        self.traded += qty

    def executed(self, lot: float) -> float:
        """Size the trades took beyond the queue ahead, in whole lots (then the queue ahead is 0)."""
        lots = round(-self.front / lot)
        if lots <= 0:
            return 0.0
        self.front = 0.0
        return lots * lot


class QueueModel(Protocol):
    """Where a resting order stands in its level's queue (see the module doc)."""

    def arrive(self, level: float) -> QueuePosition | None:
        """The place of an order resting at a level that displays `level`; None: the model never
        fills at exactly the price."""
        ...

    def depth(self, q: QueuePosition, new: float) -> None:
        """The level changed from `q.level` to `new` (hftbacktest's `depth`)."""
        ...


class NoQueueModel:
    """``none``: no place in the queue; only the market going through the price fills the order."""

    def arrive(self, level: float) -> QueuePosition | None:
        return None

    def depth(self, q: QueuePosition, new: float) -> None:
        raise AssertionError("NoQueueModel holds no queue positions")


class RiskAverseQueueModel:
    """``risk_averse``: a level decrease only clips the queue ahead to the new level size."""

    def arrive(self, level: float) -> QueuePosition | None:
        return QueuePosition(level, level)

    def depth(self, q: QueuePosition, new: float) -> None:
        q.level = new
        q.front = min(q.front, new)


class PowerProbQueueModel:
    """``prob``: a decrease not explained by the trades is split between the front and the back of
    the queue by p = back^n / (back^n + front^n), n = `power`."""

    def __init__(self, power: float) -> None:
        self.power = power

    def arrive(self, level: float) -> QueuePosition | None:
        return QueuePosition(level, level)

    def depth(self, q: QueuePosition, new: float) -> None:
        prev, q.level = q.level, new
        change = prev - new - q.traded  # the trades are already in `front`
        q.traded = 0.0
        if change < 0.0:  # the level grew (or shrank by less than traded): nothing new ahead of us
            q.front = min(q.front, new)
            return
        front, back = q.front, prev - q.front
        fb, ff = max(back, 0.0) ** self.power, max(front, 0.0) ** self.power
        p = fb / (fb + ff) if fb + ff > 0.0 else 1.0
        q.front = min(front - (1.0 - p) * change + min(back - p * change, 0.0), new)


QUEUE_MODELS = {"none": NoQueueModel, "risk_averse": RiskAverseQueueModel, "prob": PowerProbQueueModel}


def queue_model(name: str, power: float) -> QueueModel:
    """The model a config names (`exchange.queue_model`; `exchange.queue_power` for ``prob``)."""
    cls = QUEUE_MODELS[name]
    return cls(power) if cls is PowerProbQueueModel else cls()
