"""Agreement-weighted signal ensemble (Hansen & Salamon 1990; Breiman 1996).

Members give directions d_i in [-1, 1] (OFI, LSTM, OU, CVD by default). The ensemble's direction
is the weighted sum d = sum_i w_i d_i, and its confidence is how much the members agree:

    confidence = clamp(1 - std(d_i) / mean(|d_i|), 0, 1),   0 when mean(|d_i|) < 1e-12

with the population standard deviation over the members that have a non-zero weight. Members that
all say the same thing give 1; members split evenly between +x and -x give 0; a silent member
(d_i = 0) counts as a vote for "no move" and lowers the agreement. The strategy trades only above
its confidence gate (0.6 by default).
"""

from __future__ import annotations

import math

from nautilus_trader.indicators.base import Indicator

from tests.oracle.indicators.warm_state import WarmState

MEMBERS = ("ofi", "lstm", "ou", "cvd")


def combine(weights: tuple[float, ...], active: tuple[int, ...], d: list[float]) -> tuple[float, float]:
    """(weighted direction, agreement) of the members' directions `d`, clipped in place to [-1, 1]
    (NaN counts as silent); `active` are the members with a non-zero weight. A pure function: the
    one implementation of the formula, for the indicator and for the decision."""
    for i, x in enumerate(d):
        if not -1.0 <= x <= 1.0:  # also true for NaN
            d[i] = 0.0 if x != x else (1.0 if x > 0.0 else -1.0)
    value = weights[0] * d[0] + weights[1] * d[1] + weights[2] * d[2] + weights[3] * d[3]
    votes = [d[i] for i in active]
    n = len(votes)
    mean_abs = sum(map(abs, votes)) / n
    if mean_abs < 1e-12:
        return value, 0.0
    mean = sum(votes) / n
    std = math.sqrt(sum((x - mean) * (x - mean) for x in votes) / n)
    return value, min(max(1.0 - std / mean_abs, 0.0), 1.0)


class SignalEnsemble(WarmState, Indicator):
    """`value` is the weighted direction in [-1, 1]; `confidence` the agreement in [0, 1].

    Parameters
    ----------
    weights : tuple[float, float, float, float]
        Weights of (OFI, LSTM, OU, CVD); non-negative, summing to 1. A zero weight leaves that
        member out of the agreement as well.
    """

    __slots__ = ("weights", "_active", "value", "confidence", "directions")
    _STATE = ("value", "confidence", "directions")

    def __init__(self, weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)) -> None:
        if len(weights) != len(MEMBERS) or any(not (w >= 0.0) for w in weights):
            raise ValueError(f"weights must be {len(MEMBERS)} non-negative numbers for {MEMBERS}, got {weights}")
        if abs(sum(weights) - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, got {sum(weights)}")
        super().__init__(params=[weights])
        self.weights = tuple(float(w) for w in weights)
        self._active = tuple(i for i, w in enumerate(self.weights) if w > 0.0)
        self._reset()

    def _reset(self) -> None:
        self.value = 0.0
        self.confidence = 0.0
        self.directions = (0.0,) * len(MEMBERS)

    def update_raw(self, ofi: float, lstm: float, ou: float, cvd: float) -> float:
        """Combine the members' directions (each clipped to [-1, 1]; NaN counts as silent)."""
        d = [ofi, lstm, ou, cvd]
        self.value, self.confidence = combine(self.weights, self._active, d)
        self.directions = tuple(d)
        if not self.initialized:
            self._set_has_inputs(True)
            self._set_initialized(True)
        return self.value
