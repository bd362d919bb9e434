"""The feature pipeline: every indicator updated in one compiled call per book batch, and one typed row.

The strategy calls `on_book(snapshot)` once per delta batch (one `BookSnapshot`, see
`scalp_nautilus.book`) and `on_trade(...)` / `on_trade_tick(tick)` once per trade. Trades are held
until the next book batch; then one numba call (`_batch`) feeds them, in order, to the classifier
(which runs first on each trade, so VPIN, CVD and Kyle's λ see the same side), VPIN, CVD and Kyle's
λ, feeds the snapshot to every book feature in dependency order (the classifier's quote first, the
mid-bar builder before Hurst, OU after Hurst, the LSTM after the LOB vector, the ensemble last),
and writes the row. `on_book` returns that row, a `FeatureSnapshot`, which is also the feature
recorder's row. In a strategy subscribed to L2 deltas with the data engine buffering each batch to
its ``F_LAST`` delta (`buffer_deltas=True`):

    builder = BookSnapshotBuilder.for_instrument(instrument)
    pipeline = FeaturePipeline(VPIN(VPINSettings(volume_per_hour=...)), ...)  # settings: indicators.settings

    def on_order_book_deltas(self, deltas):  # the cached book already holds the batch
        book = self.cache.order_book(deltas.instrument_id)
        row = pipeline.on_book(builder.from_book(book, deltas.ts_event, deltas.ts_init, deltas.sequence))

    def on_trade_tick(self, tick):
        pipeline.on_trade_tick(tick)

Compiled state (DESIGN §8): each indicator keeps its numbers in two flat arrays
(`scalp_nautilus.indicators.compiled`); the pipeline adopts them into one pair, `F` (float64) and
`I` (int64), so the batch kernel reaches every feature through one pair of arrays and a table of
offsets. The indicator objects stay Nautilus indicators reading that state. The Hurst, OU,
Parkinson and LOB-vector indicators share one mid-bar builder (`bars`): one outage detector.
Python runs only where a feature is not compiled: the LSTM's model (torch, only while a model is
active) and the funding detector (event-driven: a settlement every few hours; its outputs are
copied into `F`/`I` when it changes).

The row is declared once, in the feature table (`scalp_nautilus.feature_table.COLUMNS`: each
column's name, type, slot in the compiled state, levels, units); the kernel's row is a gather from
`F` and `I` by the table, turned into a `FeatureSnapshot` (`scalp_nautilus.feature_row`) by one
generated expression.

Levels available (DESIGN §8, top of book): each column says how many book levels a side its value
is computed from (`Column.levels`); the pipeline keeps the levels the latest book showed
(`BookSnapshot.levels`, slot `LEVELS`), and a float value needing more is NaN in the row, never 0
(`unavailable(levels)` names them); an int or bool column, which has no NaN, takes its declared
`Column.missing` value instead (`depth_state` -1, `depth_shock` False).

Adding a feature: give its indicator compiled state, add it to `_BLOCKS` (and its module to
`_SLOTS`), call its update from `_book` or `_trade` after what it depends on, add its columns to the
feature table and regenerate the row's stub (``python -m scalp_nautilus.feature_table``).
"""

from __future__ import annotations

import logging
import math
import sys
import typing
from collections.abc import Callable

import numpy as np
from numba import njit

from nautilus_trader.model.data import TradeTick

from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.book import band_notional
from scalp_nautilus.book import band_sides
from scalp_nautilus.feature_row import FeatureSnapshot
from scalp_nautilus.feature_table import COLUMNS
from scalp_nautilus.feature_table import EVERY_LEVEL
from scalp_nautilus.feature_table import Column
from scalp_nautilus.indicators import cvd as _cvd
from scalp_nautilus.indicators import hurst as _hurst
from scalp_nautilus.indicators import lee_ready as _lr
from scalp_nautilus.indicators import liquidity as _liq
from scalp_nautilus.indicators import lob_vector as _lob
from scalp_nautilus.indicators import mid_bars as _bars
from scalp_nautilus.indicators import ofi as _ofi
from scalp_nautilus.indicators import ou_zscore as _ou
from scalp_nautilus.indicators import parkinson as _park
from scalp_nautilus.indicators import regime as _reg
from scalp_nautilus.indicators import vpin as _vpin
from scalp_nautilus.indicators.compiled import INITIALIZED
from scalp_nautilus.indicators.compiled import CompiledIndicator
from scalp_nautilus.indicators.cvd import CumulativeVolumeDelta
from scalp_nautilus.indicators.funding_arb import FundingArbDetector
from scalp_nautilus.indicators.funding_feed import RateStep
from scalp_nautilus.indicators.hurst import HurstExponent
from scalp_nautilus.indicators.lee_ready import AGGRESSOR_TO_SIDE
from scalp_nautilus.indicators.lee_ready import LeeReadyClassifier
from scalp_nautilus.indicators.liquidity import LiquidityMetrics
from scalp_nautilus.indicators.lob_vector import N_LOB_FEATURES
from scalp_nautilus.indicators.lob_vector import LOBFeatureVector
from scalp_nautilus.indicators.mid_bars import MidBars
from scalp_nautilus.indicators.ofi import OrderFlowImbalance
from scalp_nautilus.indicators.ou_zscore import OUZScore
from scalp_nautilus.indicators.parkinson import ParkinsonVolatility
from scalp_nautilus.indicators.regime import MicrostructureRegime
from scalp_nautilus.indicators.vpin import VPIN
from scalp_nautilus.models import ensemble as _ens
from scalp_nautilus.models import lstm as _lstm
from scalp_nautilus.models.ensemble import SignalEnsemble
from scalp_nautilus.models.lstm import LSTMPredictor
from scalp_nautilus.skips import SkipCounter

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- the pipeline's own state

(MID, TRADED_VOLUME, FUND_Z, FUND_BPS) = range(4)
_FLOATS = 4
(BOOK_VALID, TS_EVENT, UPDATE_ID, WARM, COLD, BOOKS, TRADES, FUND_DIR, _SKIP_BOOK, _SKIP_TRADE) = range(2, 12)
_EXTERNAL_LSTM = 12
LEVELS = 13  # levels a side the latest book showed (`BookSnapshot.levels`): the row's NaNs follow it
_INTS = 14
_SKIPS = {
    _SKIP_BOOK: "invalid book (empty, one-sided or crossed): book features hold their values",
    _SKIP_TRADE: "trade with non-positive or non-finite price or size skipped",
}

# Blocks of F / I, in this order; L[4 k: 4 k + 4] = block k's float start, float stop, int start, int stop.
_BLOCKS: tuple[str, ...] = ("pipeline", "classifier", "vpin", "ofi", "cvd", "liquidity", "kyle", "regime", "bars", "hurst")
_BLOCKS += ("ou", "parkinson", "lob", "lstm", "ensemble")
(_P, _CLS, _VPIN, _OFI, _CVD, _LIQ, _KYLE, _REG, _BARS, _HURST, _OU, _PARK, _LOB, _LSTM, _ENS) = range(len(_BLOCKS))
# The warm-up flags in the order `cold` names them (the funding detector gates only its own signal).
_COLD_ORDER = ("classifier", "vpin", "ofi", "cvd", "regime", "liquidity", "hurst", "ou", "parkinson", "lob", "lstm", "ensemble")
_RESTARTABLE = ("hurst", "ou", "parkinson", "lob")  # their windows restart after an outage
# Slow state: the indicators whose history takes days to fill (the funding detector's settled
# rates), kept across a longer restart than the rest (`StateSettings.funding_max_age_s`).
SLOW = ("funding",)


# ---------------------------------------------------------------- the row (`scalp_nautilus.feature_table`)

# the module naming each block's slots
_SLOTS = {
    "pipeline": sys.modules[__name__],
    "classifier": _lr,
    "vpin": _vpin,
    "ofi": _ofi,
    "cvd": _cvd,
    "liquidity": _liq,
    "kyle": _liq,
    "regime": _reg,
    "hurst": _hurst,
    "ou": _ou,
    "parkinson": _park,
    "lob": _lob,
    "lstm": _lstm,
    "ensemble": _ens,
}
_F_COLUMNS = tuple(c for c in COLUMNS if c.kind is float)
_I_COLUMNS = tuple(c for c in COLUMNS if c.kind is not float)


def _slot(column: Column) -> int:
    """The column's slot within its block's floats (a float column) or ints (any other)."""
    return int(getattr(_SLOTS[column.block], column.slot)) + column.offset


def _row_maker() -> Callable[[list, list, str], FeatureSnapshot]:
    """(floats, ints, cold) -> FeatureSnapshot, as one generated tuple expression (a keyword
    constructor would cost ~5 µs a row)."""
    f = {c.name: i for i, c in enumerate(_F_COLUMNS)}
    i = {c.name: j for j, c in enumerate(_I_COLUMNS)}
    parts = []
    for c in COLUMNS:
        if c.kind is float:
            parts.append(f"f[{f[c.name]}]")
        elif c.kind is bool:
            parts.append(f"i[{i[c.name]}] != 0")
        elif c.kind is str:
            parts.append("cold")
        else:
            parts.append(f"i[{i[c.name]}]")
    source = f"def make(f, i, cold):\n    return new(Row, ({', '.join(parts)},))\n"
    scope: dict[str, typing.Any] = {"new": tuple.__new__, "Row": FeatureSnapshot}
    exec(source, scope)
    return scope["make"]


_make_row = _row_maker()


def ensemble_inputs(ofi_z: float, lstm_direction: float, ou_signal: float, cvd_z: float) -> tuple:
    """The ensemble members' directions in [-1, 1], in `SignalEnsemble`'s (OFI, LSTM, OU, CVD)
    order: the z-scores are squashed by tanh, the LSTM and OU outputs are directions already."""
    return math.tanh(ofi_z), lstm_direction, ou_signal, math.tanh(cvd_z)


# ---------------------------------------------------------------- the batch kernel


@njit(cache=True)
def _block(F, J, L, k):
    return F[L[4 * k] : L[4 * k + 1]], J[L[4 * k + 2] : L[4 * k + 3]]


@njit(cache=True)
def _trade(F, J, L, price, size, venue_side, ts_event):
    ps, pn = _block(F, J, L, _P)
    if not (0.0 < price < math.inf and 0.0 < size < math.inf):
        pn[_SKIP_TRADE] += 1
        return
    pn[TRADES] += 1
    ps[TRADED_VOLUME] += size
    pn[TS_EVENT] = ts_event
    cs, cn = _block(F, J, L, _CLS)
    side = _lr.classify(cs, cn, price, ts_event, venue_side)
    vs, vn = _block(F, J, L, _VPIN)
    _vpin.vpin_trade(vs, vn, size, side)
    ds, dn = _block(F, J, L, _CVD)
    _cvd.cvd_trade(ds, dn, price, size, side, ts_event)
    _, ln = _block(F, J, L, _LIQ)
    ks, kn = _block(F, J, L, _KYLE)
    _liq.liquidity_trade(ln, ks, kn, side * size, ts_event)


@njit(cache=True)
def _book(F, J, L, lstm_buf, bp, bq, nb, ap, aq, na, levels, valid, mid, band_notional, tick_size, ts_event, ts_init, sequence):
    ps, pn = _block(F, J, L, _P)
    pn[BOOKS] += 1
    pn[LEVELS] = levels
    pn[TS_EVENT] = ts_event
    pn[UPDATE_ID] = sequence
    pn[BOOK_VALID] = valid
    if valid:
        ps[MID] = mid
    else:
        pn[_SKIP_BOOK] += 1
    # Each feature refuses an invalid book itself (OFI also restarts its reference).
    cs, cn = _block(F, J, L, _CLS)
    if valid:
        _lr.add_quote(cs, cn, ts_event, mid)
    s, n = _block(F, J, L, _OFI)
    _ofi.ofi_book(s, n, valid, bp, bq, nb, ap, aq, na)
    s, n = _block(F, J, L, _LIQ)
    ks, kn = _block(F, J, L, _KYLE)
    _liq.liquidity_book(s, n, ks, kn, valid, bp, bq, nb, ap, aq, na, ts_event)
    s, n = _block(F, J, L, _REG)
    if valid:
        spread = ap[0] - bp[0]
        _reg.regime_update(s, n, ts_event, 1e4 * spread / mid, band_notional, _reg.spread_ticks(spread, tick_size))
    else:
        n[_reg.SKIP_INVALID] += 1
    s, n = _block(F, J, L, _CVD)
    _cvd.cvd_advance(s, n, ts_event)
    # statistics of the mid: one bar builder; OU is gated by the Hurst exponent of the same bars
    bs, bn = _block(F, J, L, _BARS)
    _bars.bars_update(bs, bn, mid if valid else math.nan, ts_event)
    hs, hn = _block(F, J, L, _HURST)
    _hurst.hurst_bars(hs, hn, bs, bn)
    s, n = _block(F, J, L, _OU)
    s[_ou.HURST] = hs[_hurst.VALUE]
    _ou.ou_bars(s, n, bs, bn)
    s, n = _block(F, J, L, _PARK)
    _park.parkinson_bars(s, n, bs, bn)
    s, n = _block(F, J, L, _LOB)
    if valid:
        _lob.lob_bars(s, n, bs, bn)
        if _lob.lob_check(n, bq, aq, bp[0], ap[0]):
            _lob.lob_book(s, n, bq, aq, bp[0], ap[0], ts_event, ts_init)
    else:
        n[_lob.INVALID_BOOKS] += 1
    # models: the LSTM reads the LOB vector (only once it is warm: a cold vector is all zeros and
    # would fill the LSTM's sequence with nothing); with a model active, Python predicts
    if n[INITIALIZED]:
        ls, ln = _block(F, J, L, _LSTM)
        _lstm.lstm_vector(ls, ln, lstm_buf, s[_lob.VALUE : _lob.VALUE + N_LOB_FEATURES], ps[MID])
    if not pn[_EXTERNAL_LSTM]:
        _finish(F, J, L)


@njit(cache=True)
def _finish(F, J, L):
    """The ensemble and the warm-up flags (after the LSTM)."""
    _, pn = _block(F, J, L, _P)
    os, _ = _block(F, J, L, _OFI)
    ds, _ = _block(F, J, L, _CVD)
    us, _ = _block(F, J, L, _OU)
    ls, _ = _block(F, J, L, _LSTM)
    es, en = _block(F, J, L, _ENS)
    _ens.ensemble_update(es, en, math.tanh(os[_ofi.Z]), ls[_lstm.VALUE], us[_ou.VALUE], math.tanh(ds[_cvd.Z]))
    # `cold`: a bit per indicator of _COLD_ORDER still warming up
    warm = pn[WARM]
    if warm:
        for k in (_HURST, _OU, _PARK, _LOB):
            if not J[L[4 * k + 2] + INITIALIZED]:  # an outage restarted its windows: cold again
                warm = 0
                break
    mask = 0
    if not warm:
        bit = 1
        for k in (_CLS, _VPIN, _OFI, _CVD, _REG, _LIQ, _HURST, _OU, _PARK, _LOB, _LSTM, _ENS):
            if not J[L[4 * k + 2] + INITIALIZED]:
                mask |= bit
            bit <<= 1
        warm = mask == 0
    pn[WARM] = warm
    pn[COLD] = mask


@njit(cache=True)
def _gather(F, J, src_f, src_i, needs_f, needs_i, skip_slots, row_f, row_i):
    """The row from the state: a value needing more book levels than the latest book showed is
    NaN, an int's its missing value (`needs_i`: levels needed, missing value; the pipeline's ints
    come first in `J`)."""
    shown = J[LEVELS]
    for j in range(src_f.shape[0]):
        row_f[j] = F[src_f[j]] if needs_f[j] <= shown else math.nan
    for j in range(src_i.shape[0]):
        row_i[j] = J[src_i[j]] if needs_i[0, j] <= shown else needs_i[1, j]
    # the reasons counted at least once: a new one is logged at once, the counts read on demand
    reasons = 0
    for j in range(skip_slots.shape[0]):
        reasons += J[skip_slots[j]] > 0
    return reasons


@njit(cache=True)
def _batch(
    F, J, L, lstm_buf, trades_f, trades_i, n_trades, bp, bq, nb, ap, aq, na, levels, valid, mid, band_notional, tick_size,
    ts_event, ts_init, sequence, src_f, src_i, needs_f, needs_i, skip_slots, row_f, row_i,
):  # fmt: skip
    """The trades since the last batch, then the batch's book: one compiled call; returns how many
    skip reasons have been counted so far."""
    for t in range(n_trades):
        _trade(F, J, L, trades_f[t, 0], trades_f[t, 1], trades_i[t, 0], trades_i[t, 1])
    _book(F, J, L, lstm_buf, bp, bq, nb, ap, aq, na, levels, valid, mid, band_notional, tick_size, ts_event, ts_init, sequence)
    return _gather(F, J, src_f, src_i, needs_f, needs_i, skip_slots, row_f, row_i)


@njit(cache=True)
def _trades_only(F, J, L, trades_f, trades_i, n_trades):
    for t in range(n_trades):
        _trade(F, J, L, trades_f[t, 0], trades_f[t, 1], trades_i[t, 0], trades_i[t, 1])


# ---------------------------------------------------------------- the feature replay's chunks

# The snapshot builder's state in the replay (`BookSnapshotBuilder` keeps the same in Python):
(_BID_NOTIONAL, _ASK_NOTIONAL, BUILDER_MULTIPLIER) = range(3)
BUILDER_FLOATS = 3
(_BID_TS, _ASK_TS, _BID_KNOWN, _ASK_KNOWN, BUILDER_INVERSE, BUILDER_REFRESH_NS, BUILT, SKIP_EMPTY, SKIP_ONE_SIDED) = range(9)
(SKIP_CROSSED, BUILDER_LEVELS) = range(9, 11)
BUILDER_INTS = 11


@njit(cache=True)
def _band(bs, bn, valid, nb, na, mid, quantities, ts_event, read):
    """`BookSnapshotBuilder._finish` on numbers: the band notional (NaN on an invalid book), the
    sides read noted in `read`, the builder's skips counted."""
    bn[BUILT] += 1
    read[0] = read[1] = False
    if not valid:
        # after an outage nothing read before it may be carried: the next valid book reads both
        bn[_BID_KNOWN] = bn[_ASK_KNOWN] = 0
        if nb == 0 and na == 0:
            bn[SKIP_EMPTY] += 1
        elif nb == 0 or na == 0:
            bn[SKIP_ONE_SIDED] += 1
        else:
            bn[SKIP_CROSSED] += 1
        return math.nan
    if bn[BUILDER_LEVELS] != EVERY_LEVEL:  # the band counts every level in it: unknown on a book showing fewer
        return math.nan
    read_bid, read_ask = band_sides(
        bn[_BID_KNOWN] != 0, bn[_ASK_KNOWN] != 0, bn[_BID_TS], bn[_ASK_TS], ts_event, bn[BUILDER_REFRESH_NS]
    )
    multiplier, inverse = bs[BUILDER_MULTIPLIER], bn[BUILDER_INVERSE] != 0
    if read_bid:
        bs[_BID_NOTIONAL] = band_notional(quantities[0], mid, multiplier, inverse)
        bn[_BID_TS], bn[_BID_KNOWN] = ts_event, 1
        read[0] = True
    if read_ask:
        bs[_ASK_NOTIONAL] = band_notional(quantities[1], mid, multiplier, inverse)
        bn[_ASK_TS], bn[_ASK_KNOWN] = ts_event, 1
        read[1] = True
    return bs[_BID_NOTIONAL] + bs[_ASK_NOTIONAL]


@njit(cache=True)
def replay_chunk(
    F, J, L, lstm_buf, bs, bn, tick_size,
    bid_px, bid_qty, ask_px, ask_qty, levels, quantities, ts_events, ts_inits, sequences, b0,
    trade_ts_init, trade_price, trade_size, trade_side, trade_ts_event, t0, more_trades, stop_ts,
    src_f, src_i, needs_f, needs_i, skip_slots, out_f, out_i, read,
):  # fmt: skip
    """The feature replay's inner loop: batches `b0`... of a `ReplayBook` chunk, each after the
    trades stamped (``ts_init``) before it, as the engine orders them. Stops before a batch that
    comes after `stop_ts` (a funding update goes first) or when the trades run out while more are
    to come; returns (next batch, next trade)."""
    t = t0
    n_trades = trade_ts_init.shape[0]
    shown = bn[BUILDER_LEVELS]
    for b in range(b0, ts_inits.shape[0]):
        ts = ts_inits[b]
        if ts > stop_ts:
            return b, t
        while t < n_trades and trade_ts_init[t] < ts:
            _trade(F, J, L, trade_price[t], trade_size[t], trade_side[t], trade_ts_event[t])
            t += 1
        if t == n_trades and more_trades:
            return b, t
        nb, na = levels[b, 0], levels[b, 1]
        bp, ap = bid_px[b], ask_px[b]
        if nb > shown or na > shown:  # the levels past those the data shows are not read
            nb, na = min(nb, shown), min(na, shown)
            bp[nb:] = bid_qty[b, nb:] = 0.0
            ap[na:] = ask_qty[b, na:] = 0.0
        valid = nb > 0 and na > 0 and bp[0] < ap[0]
        mid = 0.5 * (bp[0] + ap[0]) if valid else math.nan
        band = _band(bs, bn, valid, nb, na, mid, quantities[b], ts_events[b], read[b])
        _book(
            F, J, L, lstm_buf, bp, bid_qty[b], nb, ap, ask_qty[b], na, shown, valid, mid, band, tick_size, ts_events[b], ts,
            sequences[b],
        )  # fmt: skip
        _gather(F, J, src_f, src_i, needs_f, needs_i, skip_slots, out_f[b], out_i[b])
    return ts_inits.shape[0], t


@njit(cache=True)
def trades_until(F, J, L, trade_ts_init, trade_price, trade_size, trade_side, trade_ts_event, t0, until):
    """Feed the trades from `t0` stamped at or before `until`; returns the next trade."""
    t = t0
    while t < trade_ts_init.shape[0] and trade_ts_init[t] <= until:
        _trade(F, J, L, trade_price[t], trade_size[t], trade_side[t], trade_ts_event[t])
        t += 1
    return t


# ---------------------------------------------------------------- the pipeline


class _PipelineState(CompiledIndicator):
    """The pipeline's own slots (mid, counters, the warm-up flags, the regime's and the funding
    detector's outputs while those are not compiled)."""

    def __init__(self) -> None:
        super().__init__(params=[])
        self._allocate(_FLOATS, _INTS)

    def _reset(self) -> None:
        self._s[:] = 0.0
        self._n[:] = 0
        self._n[LEVELS] = EVERY_LEVEL  # nothing is unavailable until a book says so


class FeaturePipeline:
    """Owns the indicators and feeds them; see the module doc for the order and how to extend it.

    Parameters
    ----------
    vpin : VPIN
        Its bucket size depends on the instrument's volume, so it has no default.
    classifier, ofi, cvd, regime, liquidity, hurst, ou, parkinson, lob, funding, lstm, ensemble :
        The other indicators, default-constructed (DESIGN.md defaults) when not given. The
        ensemble's members are `ensemble_inputs`: tanh(OFI z), the LSTM's direction, the OU
        signal and tanh(CVD z). Hurst, OU, Parkinson and the LOB vector must use the same bars
        (bar length and outage rule): they share one builder.
    """

    def __init__(
        self,
        vpin: VPIN,
        classifier: LeeReadyClassifier | None = None,
        ofi: OrderFlowImbalance | None = None,
        cvd: CumulativeVolumeDelta | None = None,
        regime: MicrostructureRegime | None = None,
        liquidity: LiquidityMetrics | None = None,
        hurst: HurstExponent | None = None,
        ou: OUZScore | None = None,
        parkinson: ParkinsonVolatility | None = None,
        lob: LOBFeatureVector | None = None,
        funding: FundingArbDetector | None = None,
        lstm: LSTMPredictor | None = None,
        ensemble: SignalEnsemble | None = None,
    ) -> None:
        self.classifier = classifier or LeeReadyClassifier()
        self.vpin = vpin
        self.ofi = ofi or OrderFlowImbalance()
        self.cvd = cvd or CumulativeVolumeDelta()
        self.regime = regime or MicrostructureRegime()
        self.liquidity = liquidity or LiquidityMetrics()
        self.hurst = hurst or HurstExponent()
        self.ou = ou or OUZScore()
        self.parkinson = parkinson or ParkinsonVolatility()
        self.lob = lob or LOBFeatureVector()
        self.funding = funding or FundingArbDetector()
        self.lstm = lstm or LSTMPredictor()
        self.ensemble = ensemble or SignalEnsemble()
        self._indicators: dict[str, typing.Any] = {
            "classifier": self.classifier,
            "vpin": self.vpin,
            "ofi": self.ofi,
            "cvd": self.cvd,
            "regime": self.regime,
            "liquidity": self.liquidity,
            "hurst": self.hurst,
            "ou": self.ou,
            "parkinson": self.parkinson,
            "lob": self.lob,
            "funding": self.funding,
            "lstm": self.lstm,
            "ensemble": self.ensemble,
        }
        # One mid-bar builder for every indicator on bars: its parameters must be theirs.
        readers = {name: self._indicators[name] for name in _RESTARTABLE}
        rules = {name: (ind.bars.bar_ns, ind.bars.max_carry) for name, ind in readers.items()}
        if len(set(rules.values())) > 1:
            raise ValueError(
                f"one mid-bar builder serves {sorted(rules)}: their bar length and max_carry must agree, got {rules}"
            )
        bar_ns, max_carry = next(iter(rules.values()))
        self.bars = MidBars(bar_ns=bar_ns, max_carry=max_carry)
        for ind in readers.values():
            ind.bars = self.bars
        self._own = _PipelineState()
        blocks: list[CompiledIndicator] = [
            self._own,
            self.classifier,
            self.vpin,
            self.ofi,
            self.cvd,
            self.liquidity,
            self.liquidity.kyle,
            self.regime,
            self.bars,
            self.hurst,
            self.ou,
            self.parkinson,
            self.lob,
            self.lstm,
            self.ensemble,
        ]
        self._blocks = blocks
        f_sizes = [len(b._s) for b in blocks]
        i_sizes = [len(b._n) for b in blocks]
        self._F = np.zeros(sum(f_sizes))
        self._I = np.zeros(sum(i_sizes), dtype=np.int64)
        self._L = np.zeros(4 * len(blocks), dtype=np.int64)
        fo = io = 0
        for k, (b, fs, is_) in enumerate(zip(blocks, f_sizes, i_sizes)):
            self._L[4 * k : 4 * k + 4] = (fo, fo + fs, io, io + is_)
            b.adopt(self._F[fo : fo + fs], self._I[io : io + is_])
            fo += fs
            io += is_
        index = {name: k for k, name in enumerate(_BLOCKS)}
        self._src_f = np.array([self._L[4 * index[c.block]] + _slot(c) for c in _F_COLUMNS], dtype=np.int64)
        self._src_i = np.array([self._L[4 * index[c.block] + 2] + _slot(c) for c in _I_COLUMNS], dtype=np.int64)
        self.levels_needed = {c.name: self._levels_needed(c) for c in COLUMNS}
        self._needs_f = np.array([self.levels_needed[c.name] for c in _F_COLUMNS], dtype=np.int64)
        # an integer column has no NaN: its missing value where the book shows too few levels
        self._needs_i = np.array(
            [[self.levels_needed[c.name] for c in _I_COLUMNS], [int(c.missing) for c in _I_COLUMNS]], dtype=np.int64
        )
        # every counted skip of every block, summed after each batch: a new reason is logged at once
        self._skip_owners: list[tuple[CompiledIndicator, typing.Any, dict[int, str]]] = [
            (self._own, self, _SKIPS),
            (self.classifier, self.classifier, _lr.SKIPS),
            (self.vpin, self.vpin, _vpin.SKIPS),
            (self.ofi, self.ofi, _ofi.SKIPS),
            (self.cvd, self.cvd, _cvd.SKIPS),
            (self.liquidity, self.liquidity, _liq.SKIPS),
            (self.regime, self.regime, _reg.SKIPS),
            (self.bars, self.bars, _bars.SKIPS),
            (self.hurst, self.hurst, _hurst.SKIPS),
            (self.ou, self.ou, _ou.SKIPS),
            (self.parkinson, self.parkinson, _park.SKIPS),
            (self.lstm, self.lstm, _lstm.SKIPS),
        ]
        self._skip_slots = np.array(
            [self._L[4 * blocks.index(b) + 2] + slot for b, _, reasons in self._skip_owners for slot in reasons]
            + [self._L[4 * _CLS + 2] + _lr.WARNED],
            dtype=np.int64,
        )
        self._row_f = np.zeros(len(_F_COLUMNS))
        self._row_i = np.zeros(len(_I_COLUMNS), dtype=np.int64)
        self._trades_f = np.zeros((256, 2))
        self._trades_i = np.zeros((256, 2), dtype=np.int64)
        self._pending = 0
        self._cold_names: dict[int, str] = {0: ""}
        self.skips = SkipCounter(type(self).__name__, log)
        self.reset()

    def _levels_needed(self, column: Column) -> int:
        if isinstance(column.levels, int):
            return column.levels
        indicator, parameter = column.levels.split(".")
        return int(getattr(self._indicators[indicator], parameter))

    def unavailable(self, levels: int) -> tuple[str, ...]:
        """The columns a book showing `levels` levels a side cannot give (NaN in its rows)."""
        return tuple(name for name, needed in self.levels_needed.items() if needed > levels)

    def reset(self) -> None:
        for indicator in self._indicators.values():
            indicator.reset()
        self.bars.reset()
        self._own.reset()
        self.skips.clear()
        self._pending = 0
        self._skips_seen = 0
        self._sync_funding()
        self._own._n[_EXTERNAL_LSTM] = self.lstm.active

    @property
    def mid(self) -> float:
        """The last valid mid (0.0 before the first valid book)."""
        return float(self._own._s[MID])

    @property
    def ts_event(self) -> int:
        """Exchange time of the latest book batch or trade fed."""
        self.flush()
        return int(self._own._n[TS_EVENT])

    @property
    def levels(self) -> int:
        """Levels a side the latest book showed (`BookSnapshot.levels`)."""
        return int(self._own._n[LEVELS])

    @property
    def books(self) -> int:
        return int(self._own._n[BOOKS])

    @property
    def trades(self) -> int:
        self.flush()
        return int(self._own._n[TRADES])

    # ---------------------------------------------------------------- inputs

    def on_book(self, snapshot: BookSnapshot) -> FeatureSnapshot:
        """Feed one book batch (and the trades held since the last one); returns the features after it."""
        lstm = self.lstm
        active = lstm.active
        self._own._n[_EXTERNAL_LSTM] = active
        taken = lstm._count
        levels = snapshot.levels
        total = _batch(
            self._F, self._I, self._L, lstm._buf, self._trades_f, self._trades_i, self._pending,
            snapshot.bid_prices, snapshot.bid_sizes, snapshot.n_bids,
            snapshot.ask_prices, snapshot.ask_sizes, snapshot.n_asks, levels,
            snapshot.is_valid, snapshot.mid, snapshot.bid_band_notional + snapshot.ask_band_notional, snapshot.tick_size,
            snapshot.ts_event, snapshot.ts_init, snapshot.sequence,
            self._src_f, self._src_i, self._needs_f, self._needs_i, self._skip_slots, self._row_f, self._row_i,
        )  # fmt: skip
        self._pending = 0
        if active:
            # the model: the kernel took the vector; torch predicts, the ensemble and flags follow
            if lstm._count != taken:
                lstm.predict_if_due(float(self._own._s[MID]), snapshot.ts_event)
            _finish(self._F, self._I, self._L)
            total = _gather(
                self._F,
                self._I,
                self._src_f,
                self._src_i,
                self._needs_f,
                self._needs_i,
                self._skip_slots,
                self._row_f,
                self._row_i,
            )
        elif not lstm._fallback_logged and lstm._count != taken:
            lstm._log_fallback()
        if total != self._skips_seen:
            self._skips_seen = total
            self._sync_skips()
        return self._row()

    def _row(self) -> FeatureSnapshot:
        ints = self._row_i.tolist()
        mask = ints[_COLD_INDEX]
        cold = self._cold_names.get(mask)
        if cold is None:
            cold = self._cold_names[mask] = ",".join(name for k, name in enumerate(_COLD_ORDER) if mask >> k & 1)
        return _make_row(self._row_f.tolist(), ints, cold)

    def on_funding(self, update) -> RateStep | None:
        """Feed a `FundingRateUpdate` or a Binance `BinanceFuturesMarkPriceUpdate` (one adapter for
        both); returns what the detector's settlement schedule made of it. The detector stays
        event-driven (a settlement every few hours); its outputs are copied into the compiled state."""
        step = self.funding.handle_funding(update)
        self._sync_funding()
        return step

    def on_trade_tick(self, tick: TradeTick) -> None:
        """Nautilus adapter of `on_trade`: reads the tick's fields once."""
        self.on_trade(float(tick.price), float(tick.size), AGGRESSOR_TO_SIDE[tick.aggressor_side], tick.ts_event)

    def on_trade(self, price: float, size: float, aggressor_side: int, ts_event: int) -> None:
        """Hold one trade for the next book batch: `aggressor_side` +1 buyer, -1 seller, 0 unknown
        (the classifier decides). Unusable trades are counted there, and nothing is fed."""
        k = self._pending
        if k == len(self._trades_f):
            self.flush()
            k = 0
        self._trades_f[k, 0] = price
        self._trades_f[k, 1] = size
        self._trades_i[k, 0] = aggressor_side
        self._trades_i[k, 1] = ts_event
        self._pending = k + 1

    def replay_chunk(self, builder, tops, ts_events, ts_inits, sequences, b0, trades, t0, more, stop_ts, out_f, out_i, read):
        """`replay_chunk` on this pipeline's state (the feature replay's loop; see `feature_replay`)."""
        self.flush()
        bs, bn, tick_size = builder
        b, t = replay_chunk(
            self._F, self._I, self._L, self.lstm._buf, bs, bn, tick_size,
            tops.bid_px, tops.bid_qty, tops.ask_px, tops.ask_qty, tops.n, tops.band_quantity,
            ts_events, ts_inits, sequences, b0, *trades, t0, more, stop_ts,
            self._src_f, self._src_i, self._needs_f, self._needs_i, self._skip_slots, out_f, out_i, read,
        )  # fmt: skip
        self._after_batches()
        return b, t

    def trades_until(self, trades, t0: int, until: int) -> int:
        """Feed `trades` (columns) from `t0` up to ``ts_init`` <= `until`; returns the next."""
        t = trades_until(self._F, self._I, self._L, *trades, t0, until)
        self._after_batches()
        return t

    def _after_batches(self) -> None:
        total = _gather(
            self._F, self._I, self._src_f, self._src_i, self._needs_f, self._needs_i, self._skip_slots, self._row_f, self._row_i
        )
        if total != self._skips_seen:
            self._skips_seen = total
            self._sync_skips()

    def cold_names(self, masks: np.ndarray) -> list[str]:
        """The `cold` text of each `cold` bit mask."""
        names = self._cold_names
        for mask in np.unique(masks).tolist():
            if mask not in names:
                names[mask] = ",".join(name for k, name in enumerate(_COLD_ORDER) if mask >> k & 1)
        return [names[m] for m in masks.tolist()]

    @property
    def row_columns(self) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
        """The columns of `replay_chunk`'s float and int outputs, in order."""
        return _F_COLUMNS, _I_COLUMNS

    def flush(self) -> None:
        """Feed the held trades now (a full buffer, or a reader of the trade features before the
        next book batch: the rows are taken at book batches, so only direct readers need this)."""
        if self._pending:
            _trades_only(self._F, self._I, self._L, self._trades_f, self._trades_i, self._pending)
            self._pending = 0

    def _sync_funding(self) -> None:
        f, s, n = self.funding, self._own._s, self._own._n
        opportunity = f.opportunity
        s[FUND_Z] = f.value
        n[FUND_DIR] = opportunity.direction if opportunity is not None else 0
        s[FUND_BPS] = opportunity.annualized_bps if opportunity is not None else 0.0

    def _sync_skips(self) -> None:
        for owner, holder, reasons in self._skip_owners:
            holder.skips.sync(owner._n, reasons)
        self.classifier.sync()

    # ---------------------------------------------------------------- warm state

    def parameters(self) -> dict[str, str]:
        """Each indicator's parameters (its repr): a saved state is restored only into the same."""
        return {name: repr(ind) for name, ind in self._indicators.items()}

    def state(self) -> dict:
        """Every indicator's state and the pipeline's own (JSON-safe): see `restore`."""
        self.flush()
        return {
            "parameters": self.parameters(),
            "indicators": {name: ind.state() for name, ind in self._indicators.items()},
            "bars": self.bars.state(),
            "pipeline": self._own.state(),
        }

    def restore(self, state: dict, slow_only: bool = False) -> dict[str, str]:
        """Continue from `state()`, indicator by indicator: each one built with the parameters it
        was saved with takes its saved state, and its next values are those an uninterrupted one
        would give; any other stays cold and warms up again (a changed parameter costs only its own
        indicator's warm-up). `slow_only`: only the slow state (`SLOW`, the funding history) is taken,
        for a state too old for the rest. Returns the indicators left cold, each with why ({}: every
        one restored). A state that cannot be read (an older format) raises ValueError and leaves
        the pipeline reset."""
        mine = self.parameters()
        try:
            saved, params = state["indicators"], state["parameters"]
            cold = {name: "not in the saved state" for name in self._indicators if name not in saved or name not in params}
            for name in self._indicators:
                if name not in cold and params[name] != mine[name]:
                    cold[name] = f"saved with {params[name]}, this pipeline has {mine[name]}"
                elif name not in cold and slow_only and name not in SLOW:
                    cold[name] = "its state is older than the fast state's age limit"
            self.reset()
            for name, indicator in self._indicators.items():
                if name not in cold:
                    indicator.restore(saved[name])
            on_bars = [name for name in _RESTARTABLE if name not in cold]
            if on_bars:
                self.bars.restore(state["bars"])
            if not slow_only:
                self._own.restore(state["pipeline"])
                if cold:
                    self._own._n[WARM] = 0  # `warm` latches: the next batch reads which are cold again
        except (ValueError, KeyError, TypeError) as exc:
            self.reset()
            raise ValueError(f"the saved pipeline state cannot be read ({type(exc).__name__}: {exc})") from None
        self._sync_funding()
        if on_bars:
            # A restart is a known pause, not a feed outage: the bar series join across it.
            self.bars.bridge()
        return cold

    # ---------------------------------------------------------------- output

    def skip_counts(self) -> dict[str, int]:
        """Refused inputs so far, per "owner: reason" (the pipeline's and each indicator's)."""
        self.flush()
        self._sync_skips()
        indicators = [ind.skips for ind in self._indicators.values() if hasattr(ind, "skips")]
        owners = [self.skips, self.bars.skips, *indicators]
        return {f"{s.owner}: {reason}": n for s in owners for reason, n in s.counts.items()}

    @property
    def initialized(self) -> dict[str, bool]:
        """Per indicator: warmed up?"""
        return {name: indicator.initialized for name, indicator in self._indicators.items()}

    def snapshot(self) -> FeatureSnapshot:
        """The current values (the row of the latest batch, with any trades held since fed)."""
        self.flush()
        _finish(self._F, self._I, self._L)
        _gather(
            self._F, self._I, self._src_f, self._src_i, self._needs_f, self._needs_i, self._skip_slots, self._row_f, self._row_i
        )
        return self._row()


_COLD_INDEX = next(j for j, c in enumerate(_I_COLUMNS) if c.name == "cold")
