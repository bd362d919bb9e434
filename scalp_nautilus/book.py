"""The one view of the order book that every book feature reads.

A `BookSnapshot` is taken once per delta batch (the delta carrying ``F_LAST``) and handed to every
book indicator, so nobody walks the Nautilus book twice per update. Levels are best-first; sides
with fewer than `depth` levels are padded with price 0.0 and size 0.0, and `n_bids` / `n_asks` say
how many levels are real. Prices are in quote currency, sizes in the instrument's size units
(contracts for inverse perpetuals).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class BookSnapshot:
    bid_prices: np.ndarray
    bid_sizes: np.ndarray
    ask_prices: np.ndarray
    ask_sizes: np.ndarray
    n_bids: int
    n_asks: int
    ts_event: int
    ts_init: int
    sequence: int = 0

    @property
    def depth(self) -> int:
        return len(self.bid_prices)

    @property
    def is_valid(self) -> bool:
        """Both sides present and not crossed: the only books features may use."""
        return self.n_bids > 0 and self.n_asks > 0 and self.bid_prices[0] < self.ask_prices[0]

    @property
    def mid(self) -> float:
        return 0.5 * (self.bid_prices[0] + self.ask_prices[0]) if self.is_valid else float("nan")

    @property
    def spread(self) -> float:
        return self.ask_prices[0] - self.bid_prices[0] if self.is_valid else float("nan")
