"""The LSTM predictor over the z-scored LOB vector (DeepLOB: Zhang, Zohren & Roberts 2019).

It keeps the last `seq_len` LOB vectors (`LOB_FEATURE_NAMES` order) and outputs a direction in
[-1, 1] (`value`), a confidence in [0, 1] and a volatility >= 0. Two modes, told by `active`:

- model (`active` True): a model file (see `model_file`) is loaded and enabled. Once `seq_len`
  vectors are in, it predicts on every update (`cadence_ns` 0) or on the first update at least
  `cadence_ns` of event time after its previous prediction; in between the outputs hold. direction
  = P(up) - P(down), confidence = the confidence head (the model's estimate that its call is the
  right class), volatility = the predicted realised volatility of the mid over the model's horizon
  as a fraction (log-return units, not bps).
- fallback (`active` False): no model path, a file that cannot be used, or a model switched off
  by the accuracy guard. direction = tanh(mean(latest vector)), confidence 0, volatility 0. Each
  switch to the fallback is logged once, with its reason.

The accuracy guard. A prediction whose most probable class is up or down is a direction call.
After `horizon` (the model's k) more updates it is scored against the realised move of the labels
the model was trained on (`labels`): l = (m+ - ref) / ref with m+ the mean mid over the k updates
after the call and ref the mid at the call (forward labels) or the mean over the k updates up to it
(smoothed labels): right if l has the call's sign (no move is not scored). When the last
`accuracy_window` scored calls hold fewer than `min_accuracy` right ones, the model is switched off
(fallback, logged) until `reload()`, which reads the model file again (a retrained one, typically)
and starts the count afresh. `training.direction_calls` is the same measure over recorded data.
`reset()` clears the vectors, the mids and the count, but leaves the model as it is: a model the
guard switched off stays off.

Unusable input (a vector of the wrong shape or with a non-finite value, a non-positive or
non-finite mid) is counted in `skips`, logged once per reason, and ignored: outputs hold.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from nautilus_trader.indicators.base import Indicator

from scalp_nautilus.models.labels import GUARD_MIN_ACCURACY
from scalp_nautilus.models.labels import GUARD_WINDOW
from scalp_nautilus.models.labels import NO_MOVE
from scalp_nautilus.models.labels import VOL_SCALE
from scalp_nautilus.skips import SkipCounter
from tests.oracle.indicators.lob_vector import N_LOB_FEATURES
from tests.oracle.indicators.warm_state import WarmState

if TYPE_CHECKING:  # model_file imports torch, which only a loaded model may pay for
    from scalp_nautilus.models.model_file import LoadedModel

log = logging.getLogger(__name__)

FALLBACK = "the fallback tanh(mean(features)), confidence 0"


class LSTMPredictor(WarmState, Indicator):
    """Direction / confidence / volatility from the last `seq_len` LOB vectors.

    Parameters
    ----------
    model_path : str, optional
        Model file written by `scalp-nautilus train`. None: the fallback only.
    seq_len : int
        LOB vectors in one input sequence; must equal the model file's. Default 50.
    cadence_ns : int
        0: predict on every update; else at most once per `cadence_ns` of event time. Default 0.
    accuracy_window : int
        Scored direction calls the guard's accuracy is taken over. Default 500.
    min_accuracy : float
        The guard switches the model off below this accuracy over a full window. Default 0.52.
    torch_threads : int, optional
        On loading a model, set torch's intra-op threads to this (process-wide: torch has no
        other setting). 1 is the fastest for a batch of one on this project's bench
        (`bench/bench_lstm.py`). None leaves torch's setting alone. Default 1.

    Warm state: the vectors, mids, pending calls and the guard's count; the model itself comes from
    its file. A model the guard had switched off stays off after a restore.
    """

    _STATE = (
        "_buf",
        "_count",
        "_last_prediction_ts",
        "_mids",
        "_mid_count",
        "_hits",
        "_hit_sum",
        "_pending",
        "predictions",
        "value",
        "confidence",
        "volatility",
    )

    def __init__(
        self,
        model_path: str | None = None,
        seq_len: int = 50,
        cadence_ns: int = 0,
        accuracy_window: int = GUARD_WINDOW,
        min_accuracy: float = GUARD_MIN_ACCURACY,
        torch_threads: int | None = 1,
    ) -> None:
        if seq_len < 1 or cadence_ns < 0 or accuracy_window < 1 or not (0.0 <= min_accuracy <= 1.0):
            raise ValueError(
                f"need seq_len >= 1, cadence_ns >= 0, accuracy_window >= 1, 0 <= min_accuracy <= 1; got "
                f"{seq_len}, {cadence_ns}, {accuracy_window}, {min_accuracy}"
            )
        if torch_threads is not None and torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1 or None, got {torch_threads}")
        super().__init__(params=[model_path, seq_len, cadence_ns, accuracy_window, min_accuracy])
        self.model_path = model_path
        self.seq_len = seq_len
        self.cadence_ns = cadence_ns
        self.accuracy_window = accuracy_window
        self.min_accuracy = min_accuracy
        self.torch_threads = torch_threads
        self.skips = SkipCounter(type(self).__name__, log)
        # Each vector is written twice, at i and i + seq_len, so the last seq_len vectors are
        # always one contiguous slice (oldest first) that torch can wrap without a copy.
        self._buf = np.zeros((2 * seq_len, N_LOB_FEATURES), dtype=np.float32)
        self.model: LoadedModel | None = None  # the model in use, None in the fallback
        self.horizon = 0  # the model's k (updates), 0 in the fallback
        self.active = False
        self._fallback_logged = False
        self._hits: deque[bool] = deque(maxlen=accuracy_window)
        self._pending: deque[tuple[int, int, float]] = deque()  # (due update, call +1/-1, reference mid)
        self._forward = False  # the loaded model's labels are forward ones (else smoothed)
        self._mids = np.zeros(1)
        self._reset()
        if model_path is not None:
            self.reload()

    def _reset(self) -> None:
        self._buf[:] = 0.0
        self._count = 0  # vectors taken
        self._last_prediction_ts: int | None = None
        self._mids[:] = 0.0
        self._mid_count = 0
        self._clear_guard()
        self.predictions = 0
        self.value = 0.0  # the direction
        self.confidence = 0.0
        self.volatility = 0.0

    def _clear_guard(self) -> None:
        self._hits.clear()
        self._hit_sum = 0
        self._pending.clear()

    def state(self) -> dict:
        return {**super().state(), "active": self.active}

    def restore(self, state: dict) -> None:
        super().restore(state)
        self.active = bool(state["active"]) and self.model is not None

    # ---------------------------------------------------------------- model

    def reload(self, model_path: str | None = None) -> bool:
        """(Re)load the model file (`model_path` replaces the configured one); True if it is in use.

        On success the model is enabled and the guard's count restarts; on failure the predictor
        runs the fallback and logs why once. The vectors already held are kept.
        """
        if model_path is not None:
            self.model_path = model_path
        self.model = None
        self.active = False
        self._clear_guard()
        if self.model_path is None:
            self._fallback_logged = False  # logged on the next update
            return False
        # torch is imported here, not at the top: the fallback-only pipeline need not pay its
        # 1.7 s import.
        import torch

        from scalp_nautilus.models.model_file import ModelFileError
        from scalp_nautilus.models.model_file import describe
        from scalp_nautilus.models.model_file import load_model

        try:
            model = load_model(self.model_path, seq_len=self.seq_len)
        except ModelFileError as exc:
            log.error("LSTMPredictor: %s; running on %s", exc, FALLBACK)
            self._fallback_logged = True
            return False
        if self.torch_threads is not None:
            torch.set_num_threads(self.torch_threads)
        self._torch = torch
        self.model = model
        self.horizon = model.horizon
        self._forward = model.labels == "forward"
        self._mids = np.zeros(self.horizon)
        self._mid_count = 0
        self.active = True
        log.info("LSTMPredictor: model %s loaded (%s)", self.model_path, describe(model))
        return True

    def _switch_off(self, accuracy: float) -> None:
        self.active = False
        self._clear_guard()
        log.warning(
            "LSTMPredictor: accuracy %.3f over the last %d direction calls is below %.3f: model %s switched off, "
            "running on %s until reload()",
            accuracy,
            self.accuracy_window,
            self.min_accuracy,
            self.model_path,
            FALLBACK,
        )
        self._fallback_logged = True

    @property
    def accuracy(self) -> float:
        """Share of right calls among the last `accuracy_window` scored ones (NaN before any)."""
        return self._hit_sum / len(self._hits) if self._hits else math.nan

    @property
    def scored_calls(self) -> int:
        return len(self._hits)

    # ---------------------------------------------------------------- input

    def update_raw(self, vector: np.ndarray, mid: float, ts_event: int) -> float:
        """Add one z-scored LOB vector (all zeros while the vector is stale) and the mid it came with."""
        v = vector if isinstance(vector, np.ndarray) else np.asarray(vector, dtype=np.float64)
        if v.shape != (N_LOB_FEATURES,):
            self.skips("LOB vector of the wrong shape ignored", v.shape)
            return self.value
        # Plain floats: numpy's reductions cost microseconds on 21 values.
        total = sum(v.tolist())
        if not math.isfinite(total):
            self.skips("LOB vector with a non-finite value ignored")
            return self.value
        if not (0.0 < mid < math.inf):
            self.skips("non-positive or non-finite mid: update ignored", mid)
            return self.value
        i = self._count % self.seq_len
        self._buf[i] = v
        self._buf[i + self.seq_len] = v
        self._count += 1
        if not self.initialized and self._count >= self.seq_len:
            self._set_has_inputs(True)
            self._set_initialized(True)
        if self.active:
            self._track(mid)
        if self.active:  # the guard may have switched it off just now
            due = self._last_prediction_ts is None or ts_event - self._last_prediction_ts >= self.cadence_ns
            if self._count >= self.seq_len and due:
                self._predict(i, ts_event)
        else:
            self._fallback(total / N_LOB_FEATURES)
        return self.value

    def _fallback(self, mean: float) -> None:
        if not self._fallback_logged:
            log.warning("LSTMPredictor: no model file configured; running on %s", FALLBACK)
            self._fallback_logged = True
        self.value = math.tanh(mean)
        self.confidence = 0.0
        self.volatility = 0.0

    def _predict(self, i: int, ts_event: int) -> None:
        assert self.model is not None  # only called while active, and active means a model
        torch = self._torch
        window = torch.from_numpy(self._buf[i + 1 : i + 1 + self.seq_len]).unsqueeze(0)
        with torch.inference_mode():
            p_down, p_flat, p_up, confidence, vol_bps = self.model.net.predict(window)[0].tolist()
        self.predictions += 1
        self._last_prediction_ts = ts_event
        self.value = p_up - p_down
        self.confidence = confidence
        self.volatility = vol_bps / VOL_SCALE  # the head's basis points as a fraction
        probs = (p_down, p_flat, p_up)
        call = probs.index(max(probs)) - 1  # argmax (first of equals, as numpy's) -> -1 down, 0 flat, +1 up
        if call and self._mid_count >= self.horizon:
            ref = self._mids[(self._mid_count - 1) % self.horizon] if self._forward else self._mids.mean()
            self._pending.append((self._mid_count + self.horizon, call, float(ref)))

    def _track(self, mid: float) -> None:
        """Keep the last `horizon` mids and score the calls that have come due."""
        self._mids[self._mid_count % self.horizon] = mid
        self._mid_count += 1
        while self._pending and self._pending[0][0] == self._mid_count:
            _, call, ref = self._pending.popleft()
            move = (float(self._mids.mean()) - ref) / ref  # the ring holds the k mids after the call
            if abs(move) <= NO_MOVE:
                continue
            hit = (move > 0.0) == (call > 0)
            if len(self._hits) == self.accuracy_window:
                self._hit_sum -= self._hits[0]
            self._hits.append(hit)
            self._hit_sum += hit
            if len(self._hits) == self.accuracy_window and self._hit_sum < self.min_accuracy * self.accuracy_window:
                self._switch_off(self._hit_sum / self.accuracy_window)
                return
