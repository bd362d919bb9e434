"""Agreement-weighted signal ensemble (Hansen & Salamon 1990; Breiman 1996).

Members give directions d_i in [-1, 1] (OFI, LSTM, OU, CVD by default). The ensemble's direction
is the weighted sum d = sum_i w_i d_i, and its confidence is how much the members agree:

    confidence = clamp(1 - std(d_i) / mean(|d_i|), 0, 1),   0 when mean(|d_i|) < 1e-12

with the population standard deviation over the members that have a non-zero weight. Members that
all say the same thing give 1; members split evenly between +x and -x give 0; a silent member
(d_i = 0) counts as a vote for "no move" and lowers the agreement. The strategy trades only above
its confidence gate (0.6 by default). An absent member (the LSTM in the top-of-book mode, DESIGN §8)
is not a silent one: it has weight 0, the others' weights renormalised (`without_member`).

`combine` is written so that numba compiles the same source (`ensemble_update`, in the pipeline's
batch kernel) while the decision calls it as plain Python: one formula, two callers.
"""

from __future__ import annotations

import math

from numba import njit
from numba.extending import register_jitable

from scalp_nautilus.feature_table import LOB_LEVELS
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.compiled import sum_add
from scalp_nautilus.indicators.compiled import sum_result
from scalp_nautilus.indicators.settings import EnsembleSettings
from scalp_nautilus.indicators.settings import checked

MEMBERS = ("ofi", "lstm", "ou", "cvd")


@register_jitable
def combine(weights, active, d) -> tuple[float, float]:
    """(weighted direction, agreement) of the members' directions `d`, clipped in place to [-1, 1]
    (NaN counts as silent); `active` are the members with a non-zero weight. A pure function: the
    one implementation of the formula, for the indicator and for the decision."""
    for i in range(len(d)):
        x = d[i]
        if not -1.0 <= x <= 1.0:  # also true for NaN
            d[i] = 0.0 if x != x else (1.0 if x > 0.0 else -1.0)
    value = weights[0] * d[0] + weights[1] * d[1] + weights[2] * d[2] + weights[3] * d[3]
    # sums as Python's sum() makes them (compensated): the decision calls this as plain Python
    n = len(active)
    total, c = 0.0, 0.0
    for i in active:
        total, c = sum_add(total, c, abs(d[i]))
    mean_abs = sum_result(total, c) / n
    if mean_abs < 1e-12:
        return value, 0.0
    total, c = 0.0, 0.0
    for i in active:
        total, c = sum_add(total, c, d[i])
    mean = sum_result(total, c) / n
    total, c = 0.0, 0.0
    for i in active:
        total, c = sum_add(total, c, (d[i] - mean) * (d[i] - mean))
    std = math.sqrt(sum_result(total, c) / n)
    return value, min(max(1.0 - std / mean_abs, 0.0), 1.0)


def without_member(weights: tuple[float, float, float, float], member: str) -> tuple[float, float, float, float]:
    """`weights` with `member` absent: its weight 0, the others' renormalised to sum 1
    (ValueError when no other member has weight)."""
    k = MEMBERS.index(member)
    rest = sum(w for i, w in enumerate(weights) if i != k)
    if not rest > 0.0:
        raise ValueError(f"ensemble weights {tuple(weights)}: no member but {member} has weight")
    a, b, c, d = (0.0 if i == k else w / rest for i, w in enumerate(weights))
    return a, b, c, d


# float slots: the outputs, the members' directions, the weights; int slots: the active members
(VALUE, CONFIDENCE, _D, _W) = (0, 1, 2, 6)
_FLOATS = 10
_N_ACTIVE, _ACTIVE = 2, 3
_INTS = 7


@njit(cache=True)
def ensemble_update(s, n, ofi, lstm, ou, cvd):
    """Combine the members' directions (each clipped to [-1, 1]; NaN counts as silent)."""
    d = s[_D : _D + 4]
    d[0], d[1], d[2], d[3] = ofi, lstm, ou, cvd
    s[VALUE], s[CONFIDENCE] = combine(s[_W : _W + 4], n[_ACTIVE : _ACTIVE + n[_N_ACTIVE]], d)
    n[HAS_INPUTS] = 1
    n[INITIALIZED] = 1


class SignalEnsemble(CompiledIndicator):
    """`value` is the weighted direction in [-1, 1]; `confidence` the agreement in [0, 1].

    Parameters
    ----------
    settings : EnsembleSettings
        `weights`: of (OFI, LSTM, OU, CVD); non-negative, summing to 1. A zero weight leaves that
        member out of the agreement as well. `confidence_gate` and `gate_members` are the
        decision's (`scalp_nautilus.strategy.decision`), not read here.
    """

    def __init__(self, settings: EnsembleSettings | None = None) -> None:
        settings = checked(settings or EnsembleSettings())
        super().__init__(params=[settings.weights])
        self.settings = settings
        self.weights = tuple(float(w) for w in settings.weights)
        self._active = tuple(i for i, w in enumerate(self.weights) if w > 0.0)
        self._allocate(_FLOATS, _INTS)
        self._reset()

    def _reset(self) -> None:
        self._s[:] = 0.0
        self._n[:] = 0
        self._s[_W : _W + 4] = self.weights
        self._n[_N_ACTIVE] = len(self._active)
        self._n[_ACTIVE : _ACTIVE + len(self._active)] = self._active

    def update_raw(self, ofi: float, lstm: float, ou: float, cvd: float) -> float:
        """Combine the members' directions (each clipped to [-1, 1]; NaN counts as silent)."""
        ensemble_update(self._s, self._n, ofi, lstm, ou, cvd)
        return self.value

    @property
    def levels(self) -> int:
        """Book levels a side its inputs need: the LSTM reads the whole LOB vector; without it
        (weight 0, as in the top-of-book mode) every member is a level-1 feature."""
        return LOB_LEVELS if self.weights[MEMBERS.index("lstm")] > 0.0 else 1

    @property
    def value(self) -> float:
        return float(self._s[VALUE])

    @property
    def confidence(self) -> float:
        return float(self._s[CONFIDENCE])

    @property
    def directions(self) -> tuple[float, ...]:
        """The members' directions as combined (clipped)."""
        return tuple(self._s[_D : _D + 4].tolist())
