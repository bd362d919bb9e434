"""What the LSTM is trained to predict, in one place for training, evaluation and the live guard.

Labels, for the update t and horizon k (in book batches), m+(t) = mean(mid[t+1 .. t+k]):

    forward (the default):      l(t) = (m+ - mid[t]) / mid[t]
    smoothed (DeepLOB, Zhang et al. 2019, eq. 2-4):  m-(t) = mean(mid[t-k+1 .. t]),  l(t) = (m+ - m-) / m-
    label = up if l > alpha, down if l < -alpha, else flat

The smoothed label compares the future with the *past* mean, so part of it, (mid[t] - m-) / m-
(the "realised part"), is known at t: on the real captures that part alone classifies 64-79 % of
the smoothed labels right. The forward label holds nothing known at t. Both are kept: forward to
train on, smoothed as the option and reference (`evaluate` scores a model against both).

|l| <= `NO_MOVE` counts as no move at all (`move_sign` 0): means of equal mids summed in another
order differ by float rounding (~1e-16), while the smallest real move, half a tick spread over
k mids, is ~1e-8 on BTC. Volatility target: sqrt(sum of the squared log returns of mid[t .. t+k]).

This module does not import torch, so the predictor's fallback-only path does not either.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from scalp_nautilus.indicators.settings import LSTMSettings

CLASSES = ("down", "flat", "up")  # label values 0, 1, 2: argmax - 1 is the call's sign
DOWN, FLAT, UP = 0, 1, 2
VOL_SCALE = 1e4  # the volatility head predicts basis points; divide by this for a fraction
NO_MOVE = 1e-12
LABEL_KINDS = ("forward", "smoothed")
DEFAULT_LABELS = "forward"
LABEL_DEFINITIONS = {
    "forward": "forward means: l = (mean(mid[t+1..t+k]) - mid[t]) / mid[t]; up l > alpha, down l < -alpha, else flat",
    "smoothed": "DeepLOB smoothed means: l = (mean(mid[t+1..t+k]) - mean(mid[t-k+1..t])) / mean(mid[t-k+1..t]); "
    "up l > alpha, down l < -alpha, else flat",
}
# The live accuracy guard's defaults (DESIGN.md feature 7), the `lstm` section's: the model is
# switched off below 52 % right direction calls over the last 500 scored ones.
GUARD_WINDOW = LSTMSettings().accuracy_window
GUARD_MIN_ACCURACY = LSTMSettings().min_accuracy


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


def forward_moves(mid: np.ndarray, k: int) -> np.ndarray:
    """l(t) = (m+(t) - mid[t]) / mid[t] per t, NaN where m+ would leave the array."""
    n = len(mid)
    moves = np.full(n, np.nan)
    if n <= k:
        return moves
    means = sliding_window_view(mid, k).mean(axis=1)  # means[j] = mean(mid[j .. j+k-1])
    t = np.arange(n - k)
    moves[t] = (means[t + 1] - mid[t]) / mid[t]
    return moves


def label_moves(mid: np.ndarray, k: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(l(t) of the `kind` of labels, the smoothed label's realised part) per t; NaN where undefined.
    The realised part is the same reference for both kinds: what the mid path already says at t."""
    if kind not in LABEL_KINDS:
        raise ValueError(f"labels must be one of {LABEL_KINDS}, got {kind!r}")
    smoothed, realised = smoothed_moves(mid, k)
    return (forward_moves(mid, k) if kind == "forward" else smoothed), realised


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


def past_vol(mid: np.ndarray, k: int) -> np.ndarray:
    """sqrt(sum of the squared log returns over mid[t-k .. t]) per t (fewer returns near the start):
    the volatility known at t, the persistence baseline of the volatility head."""
    c = np.concatenate(([0.0], np.cumsum(np.diff(np.log(mid)) ** 2)))
    t = np.arange(len(mid))
    return np.sqrt(c[t] - c[np.maximum(t - k, 0)])
