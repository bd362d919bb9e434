"""The LSTM predictor over the z-scored LOB vector (DeepLOB: Zhang, Zohren & Roberts 2019).

It keeps the last `seq_len` LOB vectors (`LOB_FEATURE_NAMES` order) and outputs a direction in
[-1, 1] (`value`), a confidence in [0, 1] and a volatility >= 0. Two modes, told by `active`:

- model (`active` True): a model file (see `model_file`) is loaded and enabled. Once `seq_len`
  vectors are in, it predicts on every update (`cadence_ms` 0) or on the first update at least
  `cadence_ms` of event time after its previous prediction; in between the outputs hold. direction
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

The vectors, the count and the outputs are compiled state (`scalp_nautilus.indicators.compiled`):
`lstm_vector` takes each vector and, without an active model, computes the fallback, in the
pipeline's batch kernel; torch runs (`predict_if_due`) only while a model is active.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from scalp_nautilus.feature_table import EVERY_LEVEL
from scalp_nautilus.indicators.compiled import HAS_INPUTS
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.compiled import python_sum
from scalp_nautilus.indicators.lob_vector import N_LOB_FEATURES
from scalp_nautilus.indicators.settings import LSTMSettings
from scalp_nautilus.indicators.settings import checked
from scalp_nautilus.models.labels import NO_MOVE
from scalp_nautilus.models.labels import VOL_SCALE
from scalp_nautilus.skips import SkipCounter
from scalp_nautilus.units import NS_PER_MS

if TYPE_CHECKING:  # model_file imports torch, which only a loaded model may pay for
    from scalp_nautilus.models.model_file import LoadedModel

log = logging.getLogger(__name__)

FALLBACK = "the fallback tanh(mean(features)), confidence 0"

(VALUE, CONFIDENCE, VOLATILITY) = range(3)
_FLOATS = 3
(_SEQ_LEN, COUNT, ACTIVE, _SKIP_NONFINITE, _SKIP_MID) = range(2, 7)
_INTS = 7
SKIPS = {
    _SKIP_NONFINITE: "LOB vector with a non-finite value ignored",
    _SKIP_MID: "non-positive or non-finite mid: update ignored",
}

DEFAULT_SEQ_LEN = 50  # DESIGN 3.7


def _file_seq_len(model_path: str | None) -> int:
    """The model file's sequence length (its metadata holds it); `DEFAULT_SEQ_LEN` without a usable
    file (the fallback then runs, and `LSTMPredictor.reload` logs why)."""
    if model_path is None:
        return DEFAULT_SEQ_LEN
    from scalp_nautilus.models.model_file import ModelFileError
    from scalp_nautilus.models.model_file import load_model

    try:
        return load_model(model_path).seq_len
    except ModelFileError:
        return DEFAULT_SEQ_LEN


@njit(cache=True)
def lstm_vector(s, n, buf, v, mid):
    """Take one LOB vector (length `N_LOB_FEATURES`) and its mid; without an active model, the fallback."""
    total = python_sum(v)  # as the fallback's definition, sum(vector) / 21, has always summed it
    if not math.isfinite(total):
        n[_SKIP_NONFINITE] += 1
        return
    if not (0.0 < mid < math.inf):
        n[_SKIP_MID] += 1
        return
    seq_len = n[_SEQ_LEN]
    i = n[COUNT] % seq_len
    buf[i] = v
    buf[i + seq_len] = v
    n[COUNT] += 1
    if not n[INITIALIZED] and n[COUNT] >= seq_len:
        n[HAS_INPUTS] = 1
        n[INITIALIZED] = 1
    if not n[ACTIVE]:
        s[VALUE] = math.tanh(total / v.shape[0])
        s[CONFIDENCE] = 0.0
        s[VOLATILITY] = 0.0


class LSTMPredictor(CompiledIndicator):
    """Direction / confidence / volatility from the last `seq_len` LOB vectors.

    Parameters
    ----------
    settings : LSTMSettings
        `model_path`: the model file written by `scalp-nautilus train` (None: the fallback only);
        `cadence_ms`: 0 predicts on every update, else at most once per this much event time;
        `accuracy_window` and `min_accuracy`: the guard switches the model off below
        `min_accuracy` over a full window of scored direction calls; `torch_threads`: on loading
        a model, torch's intra-op threads (process-wide: torch has no other setting; 1 is the
        fastest for a batch of one on this project's bench, `bench/bench_lstm.py`).
    seq_len : int, optional
        LOB vectors in one input sequence; given, it must equal the model file's. None (the default):
        the model file's, or DESIGN's 50 without a usable file.
    book_levels : int
        Book levels a side the data shows (`BookSnapshot.levels`): a model is used only when it was
        trained on books showing as many (the model file's `book_levels`), so a model trained on
        full L2 books is refused on a top of book (DESIGN §8). Default `EVERY_LEVEL`.

    Warm state: the vectors, mids, pending calls and the guard's count; the model itself comes from
    its file. A model the guard had switched off stays off after a restore.
    """

    def __init__(
        self, settings: LSTMSettings | None = None, *, seq_len: int | None = None, book_levels: int = EVERY_LEVEL
    ) -> None:
        settings = checked(settings or LSTMSettings())
        model_path, cadence_ns = settings.model_path, round(settings.cadence_ms * NS_PER_MS)
        accuracy_window, min_accuracy = settings.accuracy_window, settings.min_accuracy
        if seq_len is None:
            seq_len = _file_seq_len(model_path)
        if seq_len < 1:
            raise ValueError(f"LSTMPredictor: need seq_len >= 1, got {seq_len}")
        params: list = [model_path, seq_len, cadence_ns, accuracy_window, min_accuracy]
        super().__init__(params=params if book_levels == EVERY_LEVEL else [*params, book_levels])
        self.settings = settings
        self.book_levels = book_levels
        self.model_path = model_path
        self.seq_len = seq_len
        self.cadence_ns = cadence_ns
        self.accuracy_window = accuracy_window
        self.min_accuracy = min_accuracy
        self.torch_threads = settings.torch_threads
        self.skips = SkipCounter(type(self).__name__, log)
        self._allocate(_FLOATS, _INTS)
        # Each vector is written twice, at i and i + seq_len, so the last seq_len vectors are
        # always one contiguous slice (oldest first) that torch can wrap without a copy.
        self._buf = np.zeros((2 * seq_len, N_LOB_FEATURES), dtype=np.float32)
        self.model: LoadedModel | None = None  # the model in use, None in the fallback
        self.horizon = 0  # the model's k (updates), 0 in the fallback
        self._fallback_logged = False
        self._hits: deque[bool] = deque(maxlen=accuracy_window)
        self._pending: deque[tuple[int, int, float]] = deque()  # (due update, call +1/-1, reference mid)
        self._forward = False  # the loaded model's labels are forward ones (else smoothed)
        self._mids = np.zeros(1)
        self._reset()
        if model_path is not None:
            self.reload()

    def _reset(self) -> None:
        active = self.active if self._n.size else False
        self._s[:] = 0.0
        self._n[:] = 0
        self._n[_SEQ_LEN] = self.seq_len
        self._n[ACTIVE] = active
        self._buf[:] = 0.0
        self._last_prediction_ts: int | None = None
        self._mids[:] = 0.0
        self._mid_count = 0
        self._clear_guard()
        self.predictions = 0

    @property
    def active(self) -> bool:
        """A model is loaded and enabled (else: the fallback)."""
        return bool(self._n[ACTIVE])

    @active.setter
    def active(self, on: bool) -> None:
        self._n[ACTIVE] = on

    @property
    def _count(self) -> int:
        """Vectors taken."""
        return int(self._n[COUNT])

    @property
    def value(self) -> float:
        """The direction."""
        return float(self._s[VALUE])

    @property
    def confidence(self) -> float:
        return float(self._s[CONFIDENCE])

    @property
    def volatility(self) -> float:
        return float(self._s[VOLATILITY])

    def _clear_guard(self) -> None:
        self._hits.clear()
        self._hit_sum = 0
        self._pending.clear()

    def state(self) -> dict:
        return {
            **super().state(),
            "buf": self._buf.tolist(),
            "last_prediction_ts": self._last_prediction_ts,
            "mids": self._mids.tolist(),
            "mid_count": self._mid_count,
            "hits": list(self._hits),
            "pending": [list(p) for p in self._pending],
            "predictions": self.predictions,
        }

    def restore(self, state: dict) -> None:
        buf = np.asarray(state["buf"], dtype=np.float32)
        if buf.shape != self._buf.shape:
            raise ValueError(f"LSTMPredictor: saved vectors of shape {buf.shape}, this one {self._buf.shape}")
        active = bool(state["n"][ACTIVE]) if len(state["n"]) > ACTIVE else False
        super().restore(state)
        self.active = active and self.model is not None
        self._buf[...] = buf
        self._last_prediction_ts = state["last_prediction_ts"]
        mids = np.asarray(state["mids"], dtype=np.float64)
        if mids.shape == self._mids.shape:
            self._mids[...] = mids
        self._mid_count = int(state["mid_count"])
        self._hits.clear()
        self._hits.extend(bool(h) for h in state["hits"])
        self._hit_sum = sum(self._hits)
        self._pending.clear()
        self._pending.extend((int(a), int(b), float(c)) for a, b, c in state["pending"])
        self.predictions = int(state["predictions"])

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
            model = load_model(self.model_path, seq_len=self.seq_len, book_levels=self.book_levels)
        except ModelFileError as exc:
            log.error("LSTMPredictor: %s; running on %s", exc, FALLBACK)
            self._fallback_logged = True
            return False
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
        count = self._count
        lstm_vector(self._s, self._n, self._buf, v.astype(np.float64), mid)
        self.skips.sync(self._n, SKIPS)
        if self._count == count:
            return self.value
        if self.active:
            self.predict_if_due(mid, ts_event, v)
        else:
            self._log_fallback()
        return self.value

    def predict_if_due(self, mid: float, ts_event: int, vector: np.ndarray | None = None) -> None:
        """With a model active, after `lstm_vector` took a vector: score the calls that came due and
        predict when the cadence allows (`vector`: the vector taken, for the fallback should the
        guard switch the model off now)."""
        self._track(mid)
        if self.active:  # the guard may have switched it off just now
            due = self._last_prediction_ts is None or ts_event - self._last_prediction_ts >= self.cadence_ns
            if self._count >= self.seq_len and due:
                self._predict((self._count - 1) % self.seq_len, ts_event)
        else:
            i = (self._count - 1) % self.seq_len
            v = self._buf[i].astype(np.float64) if vector is None else vector
            self._fallback(sum(v.tolist()) / N_LOB_FEATURES)

    def _log_fallback(self) -> None:
        if not self._fallback_logged:
            log.warning("LSTMPredictor: no model file configured; running on %s", FALLBACK)
            self._fallback_logged = True

    def _fallback(self, mean: float) -> None:
        self._log_fallback()
        self._s[VALUE] = math.tanh(mean)
        self._s[CONFIDENCE] = 0.0
        self._s[VOLATILITY] = 0.0

    def _predict(self, i: int, ts_event: int) -> None:
        assert self.model is not None  # only called while active, and active means a model
        torch = self._torch
        window = torch.from_numpy(self._buf[i + 1 : i + 1 + self.seq_len]).unsqueeze(0)
        with torch.inference_mode():
            p_down, p_flat, p_up, confidence, vol_bps = self.model.net.predict(window)[0].tolist()
        self.predictions += 1
        self._last_prediction_ts = ts_event
        self._s[VALUE] = p_up - p_down
        self._s[CONFIDENCE] = confidence
        self._s[VOLATILITY] = vol_bps / VOL_SCALE  # the head's basis points as a fraction
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
