"""What the LSTM is trained to predict, in one place for training, evaluation and the live guard.

Labels (DeepLOB, Zhang et al. 2019, eq. 2-4), for the update t and horizon k (in book batches):

    m-(t) = mean(mid[t-k+1 .. t]),   m+(t) = mean(mid[t+1 .. t+k]),   l(t) = (m+ - m-) / m-
    label = up if l > alpha, down if l < -alpha, else flat

|l| <= `NO_MOVE` counts as no move at all (`move_sign` 0): means of equal mids summed in another
order differ by float rounding (~1e-16), while the smallest real move, half a tick spread over
k mids, is ~1e-8 on BTC. Volatility target: sqrt(sum of the squared log returns of mid[t .. t+k]).

This module does not import torch, so the predictor's fallback-only path does not either.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

CLASSES = ("down", "flat", "up")  # label values 0, 1, 2: argmax - 1 is the call's sign
DOWN, FLAT, UP = 0, 1, 2
VOL_SCALE = 1e4  # the volatility head predicts basis points; divide by this for a fraction
NO_MOVE = 1e-12
# The live accuracy guard's defaults (DESIGN.md feature 7): the model is switched off below 52 %
# right direction calls over the last 500 scored ones.
GUARD_WINDOW = 500
GUARD_MIN_ACCURACY = 0.52


def smoothed_moves(mid: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(l(t), realised part) per t, NaN where a mean would leave the array.

    The realised part (mid[t] - m-(t)) / m-(t) is what l(t) already holds at t: m- is a mean of
    past mids, so a price that has just risen gives a positive l before anything else happens.
    It serves as a baseline: the model does not see the mid, only the LOB vector.
    """
    n = len(mid)
    moves, realised = np.full(n, np.nan), np.full(n, np.nan)
    if n < 2 * k:
        return moves, realised
    means = sliding_window_view(mid, k).mean(axis=1)  # means[j] = mean(mid[j .. j+k-1])
    t = np.arange(k - 1, n - k)
    m_minus = means[t - k + 1]
    moves[t] = (means[t + 1] - m_minus) / m_minus
    realised[t] = (mid[t] - m_minus) / m_minus
    return moves, realised


def label_classes(moves: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(moves > alpha, UP, np.where(moves < -alpha, DOWN, FLAT)).astype(np.int64)


def move_sign(moves):
    """+1 / -1 / 0 (no move) for l, elementwise."""
    return np.where(np.abs(moves) <= NO_MOVE, 0, np.sign(moves)).astype(np.int64)


def realised_vol(mid: np.ndarray, k: int) -> np.ndarray:
    """sqrt(sum of the squared log returns over mid[t .. t+k]) per t; NaN where it leaves the array."""
    n = len(mid)
    out = np.full(n, np.nan)
    if n <= k:
        return out
    c = np.concatenate(([0.0], np.cumsum(np.diff(np.log(mid)) ** 2)))  # c[i] = sum of r_1..r_i
    t = np.arange(n - k)
    out[t] = np.sqrt(c[t + k] - c[t])
    return out
