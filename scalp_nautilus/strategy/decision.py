"""The decision: a pure function of one `FeatureSnapshot` and the position state.

`decide(features, state, params)` returns what to do after a book batch, and why. The same call
runs in backtests and live, and is tested without an engine. Rules, in the order they are checked:

With a position (exits are never blocked by any gate):
1. an order of ours is in flight -> hold (the latch: one signal never sends two orders);
2. the mid crossed the stop -> exit `stop`; the exit side's touch (a long sells at the bid, from
   the mid and the spread) reached the take-profit -> `take_profit` (it goes out as a limit at that
   price, so it only fires when the touch offers it); the time stop passed
   -> `time_stop`; trading closed (`flatten_at`) -> `flatten`, halted by the kill switch ->
   `kill_switch`; else hold (`in_position`).

Flat (the first blocking rule is the outcome counted):
1. `order_pending`: an entry is in flight; `closed`: past `flatten_at`; `halted`: the kill switch
   holds a halt; `warm_up`: before `orders.trade_from` (a span the features warm up on, untraded:
   a walk-forward window's lead-in); `cooldown`: a position closed less than `orders.cooldown_s` ago;
2. `book_invalid`: the latest book was empty, one-sided or crossed;
3. `cold`: an indicator the signal needs is still warming up (Hurst, VPIN, the regime and the
   Parkinson volatility always; OU for mean reversion; OFI, CVD and the classifier for momentum;
   the LSTM when it is an active member), or there is no volatility to size a stop with;
4. `dead_zone`: dead_zone_low <= H <= dead_zone_high: no new position of any kind;
5. the signal set by Hurst: H < 0.4 mean reversion (members OU [+ LSTM]); H > 0.6 momentum
   (members OFI, CVD [+ LSTM]), where |CVD divergence| > 0.3 overrides it: the flow's side with the
   divergence as confidence; in between no microstructure signal (`no_regime`). The members'
   weighted direction must reach `min_direction` (`no_signal`) and their agreement the ensemble gate
   (`confidence`). With no microstructure entry, a flagged funding opportunity within
   `entry_window_s` of the next settlement enters with confidence 1 (`funding`);
6. `vpin_extreme`: the VPIN kill switch;
7. `size_zero`: base x VPIN multiplier x regime multiplier x confidence, rounded down to the lot,
   is below the instrument's minimum quantity or notional;
8. `taken`: enter.

Live entry blocks (`ENTRY_BLOCKS`) sit outside this function: while the node holds one (the lag
guard, a lost connection, the operator's pause), the strategy turns an entry the decision takes
into a hold counted under the block's name. A manual flatten is an exit (`manual_flatten`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from nautilus_trader.model.instruments import Instrument

from scalp_nautilus.config import parse_utc
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.features import ensemble_inputs
from scalp_nautilus.indicators.parkinson import stop_distance
from scalp_nautilus.indicators.vpin import VPINRegime
from scalp_nautilus.models.ensemble import MEMBERS
from scalp_nautilus.models.ensemble import combine
from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.strategy.settings import fee_schedule
from scalp_nautilus.units import NS_PER_S

_EXTREME = int(VPINRegime.EXTREME)

HOLD, ENTER, EXIT = 0, 1, 2

# Outcomes (also the keys of the strategy's counters, in report order).
ENTRY_OUTCOMES = (
    "taken",
    "invalid_span",  # the batch lies in a span of the data where the book cannot be trusted (the strategy's gate)
    "order_pending",
    "closed",
    "halted",
    "warm_up",
    "cooldown",
    "book_invalid",
    "cold",
    "dead_zone",
    "no_regime",
    "no_signal",
    "confidence",
    "vpin_extreme",
    "size_zero",
    "paused",
    "lag",
    "disconnected",
)
ENTRY_BLOCKS = ("paused", "lag", "disconnected")  # the live node's (see the module doc), in ENTRY_OUTCOMES
# kill_switch: a risk limit tripped (`risk`); stop_rejected: the exchange refused the protective stop.
EXIT_OUTCOMES = (
    "stop",
    "take_profit",
    "time_stop",
    "flatten",
    "stale_feed",
    "kill_switch",
    "stop_rejected",
    "manual_flatten",
)
POSITION_OUTCOMES = ("in_position", "exit_pending")

MEAN_REVERSION, MOMENTUM, CVD_DIVERGENCE, FUNDING = "mean_reversion", "momentum", "cvd_divergence", "funding"

_NOTHING: frozenset = frozenset()
_ALWAYS_NEEDED = frozenset({"hurst", "vpin", "regime", "parkinson"})
_NEEDED = {
    MEAN_REVERSION: frozenset({"ou"}),
    MOMENTUM: frozenset({"ofi", "cvd", "classifier"}),
    CVD_DIVERGENCE: frozenset({"cvd", "classifier"}),
    FUNDING: frozenset(),
}


class Decision(NamedTuple):
    action: int  # HOLD, ENTER or EXIT
    outcome: str  # the counted reason (see the module doc)
    direction: int = 0  # entries: +1 buy / -1 sell
    size: float = 0.0  # entries: rounded to the instrument's lot
    kind: str = ""  # entries: the signal set (MEAN_REVERSION, MOMENTUM, CVD_DIVERGENCE, FUNDING)
    confidence: float = 0.0
    stop_distance: float = 0.0  # price units from the fill price
    take_profit_distance: float = 0.0  # price units; 0: none
    time_stop_ns: int = 0  # absolute; 0: none


# Holds carry no payload: one instance per outcome instead of a tuple per batch.
_HOLDS = {name: Decision(HOLD, name) for name in ENTRY_OUTCOMES + POSITION_OUTCOMES}


_FLATTEN = Decision(EXIT, "flatten")
_KILL_SWITCH = Decision(EXIT, "kill_switch")


def held(outcome: str) -> Decision:
    """The hold counted under `outcome` (one of ENTRY_OUTCOMES or POSITION_OUTCOMES)."""
    return _HOLDS[outcome]


class PositionState(NamedTuple):
    """What the decision needs to know about our position and orders (flat: side 0). A tuple, not
    a frozen dataclass: the execution builds one per book batch, and a frozen dataclass's
    constructor (one `object.__setattr__` a field) costs 3 µs against a tuple's 1."""

    side: int = 0  # +1 long, -1 short, 0 flat
    stop_price: float = 0.0
    take_profit_price: float = 0.0  # 0: none
    time_stop_ns: int = 0  # 0: none
    order_pending: bool = False  # an order of ours is in flight (the latch)
    cooldown_until_ns: int = 0  # no entry before this (exchange time)
    closed: bool = False  # past `flatten_at`, or halted: no entries, exit what is open
    halted: bool = False  # closed by the kill switch (counted `halted`, exits `kill_switch`)
    next_funding_ns: int = 0  # next settlement time (0: unknown)


FLAT = PositionState()


class DecisionParams:
    """The config's decision thresholds plus the instrument's lot rules, prepared once per instance.

    The agreement of a member subset is computed by `SignalEnsemble`'s formula (`combine`, the one
    implementation of it, a pure function). One weight vector per signal set and LSTM state: the
    configured weights restricted to the set's members and renormalised (None when they are all
    zero: the set is disabled). Nothing here changes after construction: `decide` is pure.
    """

    def __init__(self, config: ScalpStrategyConfig, instrument: Instrument) -> None:
        s, x, e = config.signals, config.exits, config.ensemble
        self.mr_below = s.hurst_mean_reversion_below
        self.momentum_above = s.hurst_momentum_above
        self.dead_low = s.dead_zone_low
        self.dead_high = s.dead_zone_high
        self.min_direction = s.min_direction
        self.divergence_override = s.cvd_divergence_override
        self.confidence_gate = e.confidence_gate
        self.gate_all = e.gate_members == "all"
        self.lstm_weighted = e.weights[1] > 0.0
        self.stop_k = x.stop_k
        self.stop_horizon_bars = x.stop_horizon_s / config.parkinson.bar_s
        self.min_stop_fraction = x.min_stop_bps * 1e-4
        self.take_profit_k = x.take_profit_k
        fees = fee_schedule(config, instrument)
        entry_rate = fees.rate(maker=config.orders.entry == "maker")
        exit_rate = fees.rate(maker=x.take_profit_order == "maker")
        self.round_trip_fee_bps = (entry_rate + exit_rate) * 1e4  # a take-profit round trip's fees
        # None: the floor is the fees plus the spread at the entry (`exit_distances`)
        self.min_take_profit_bps = x.min_take_profit_bps
        self.time_stop_ns = round(x.time_stop_s * NS_PER_S)
        self.trade_from_ns = parse_utc(config.orders.trade_from).value if config.orders.trade_from else 0
        self.funding_entries = config.funding.entries
        self.funding_window_ns = round(config.funding.entry_window_s * NS_PER_S)
        self.funding_hold_ns = round(config.funding.hold_after_s * NS_PER_S)
        self.base_size = config.orders.base_size
        self.step = float(instrument.size_increment)
        self.min_qty = float(instrument.min_quantity) if instrument.min_quantity is not None else self.step
        # Binance's minimum notional is in quote currency for linear contracts; inverse (COIN-M)
        # contracts are already a fixed notional each.
        self.inverse = bool(instrument.is_inverse)
        self.multiplier = float(instrument.multiplier)
        min_notional = getattr(instrument, "min_notional", None)
        self.min_notional = 0.0 if min_notional is None or self.inverse else float(min_notional)
        self._weights = {
            (kind, lstm): _set_weights(e.weights, members)
            for kind, base in ((MOMENTUM, _members("ofi", "cvd")), (MEAN_REVERSION, _members("ou")))
            for lstm, members in ((False, base), (True, (*base, *_members("lstm"))))
        }

    def set_weights(self, kind: str, lstm_active: bool) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
        """The set's weights and the positions of its weighted members in the ensemble inputs
        (None: the set is disabled)."""
        return self._weights[(kind, lstm_active and self.lstm_weighted)]

    def round_size(self, size: float) -> float:
        """Down to the lot (a hair of tolerance so 0.3 / 0.1 lots is 3, not 2)."""
        return math.floor(size / self.step + 1e-9) * self.step

    def notional(self, size: float, mid: float) -> float:
        return size * self.multiplier if self.inverse else size * mid * self.multiplier


def _members(*names: str) -> tuple[int, ...]:
    """Positions of the named members in the ensemble's inputs (`ensemble.MEMBERS` order)."""
    return tuple(MEMBERS.index(name) for name in names)


def _set_weights(weights: tuple, members: tuple[int, ...]) -> tuple[tuple[float, ...], tuple[int, ...]] | None:
    total = sum(weights[i] for i in members)
    if total <= 0.0:
        return None
    return tuple(weights[i] / total if i in members else 0.0 for i in range(4)), tuple(i for i in members if weights[i] > 0.0)


def decide(f: FeatureSnapshot, state: PositionState, p: DecisionParams) -> Decision:
    """See the module doc. `f.ts_event` is the clock: exchange time of the batch."""
    if state.side:
        return _exit(f, state)
    if state.order_pending:
        return _HOLDS["order_pending"]
    if state.closed:
        return _HOLDS["halted" if state.halted else "closed"]
    if f.ts_event < p.trade_from_ns:
        return _HOLDS["warm_up"]
    if f.ts_event < state.cooldown_until_ns:
        return _HOLDS["cooldown"]
    if not f.book_valid:
        return _HOLDS["book_invalid"]
    cold = _NOTHING if f.warm else frozenset(f.cold.split(","))
    if cold & _ALWAYS_NEEDED or not f.blend_vol > 0.0:
        return _HOLDS["cold"]
    h = f.hurst
    if p.dead_low <= h <= p.dead_high:
        return _HOLDS["dead_zone"]

    blocked = "no_regime"
    if h < p.mr_below or h > p.momentum_above:
        signal = _microstructure_signal(f, p, cold, MEAN_REVERSION if h < p.mr_below else MOMENTUM)
        if isinstance(signal, str):
            blocked = signal
        else:
            return _size(f, p, *signal, 0)
    if p.funding_entries and f.funding_direction and 0 < state.next_funding_ns - f.ts_event <= p.funding_window_ns:
        return _size(f, p, f.funding_direction, FUNDING, 1.0, state.next_funding_ns + p.funding_hold_ns)
    return _HOLDS[blocked]


def _microstructure_signal(f: FeatureSnapshot, p: DecisionParams, cold: frozenset, kind: str) -> tuple[int, str, float] | str:
    """(direction, kind, confidence) of the active set, or the name of the rule that stopped it."""
    if kind == MOMENTUM and abs(f.cvd_divergence) > p.divergence_override:
        if cold & _NEEDED[CVD_DIVERGENCE]:
            return "cold"
        strength = abs(f.cvd_divergence)
        if strength < p.confidence_gate:
            return "confidence"
        return (1 if f.cvd_divergence > 0 else -1), CVD_DIVERGENCE, strength
    lstm = f.lstm_active and p.lstm_weighted
    if cold & _NEEDED[kind] or (lstm and "lstm" in cold):
        return "cold"
    inputs = ensemble_inputs(f.ofi_z, f.lstm_direction, f.ou_signal, f.cvd_z)
    if p.gate_all:
        direction, confidence = f.ensemble_direction, f.ensemble_confidence
    else:
        weighted = p.set_weights(kind, lstm)
        # A weighted mean (weights summing to 1) is no larger than its largest member: when every
        # member is below min_direction there is no signal, and no need to compute the agreement.
        if weighted is None or all(abs(inputs[i]) < p.min_direction for i in weighted[1]):
            return "no_signal"
        direction, confidence = combine(*weighted, list(inputs))
    if abs(direction) < p.min_direction:
        return "no_signal"
    if confidence < p.confidence_gate:
        return "confidence"
    return (1 if direction > 0 else -1), kind, confidence


def _size(f: FeatureSnapshot, p: DecisionParams, direction: int, kind: str, confidence: float, time_stop_ns: int) -> Decision:
    if f.vpin_regime == _EXTREME:
        return _HOLDS["vpin_extreme"]
    size = p.round_size(p.base_size * f.vpin_multiplier * f.regime_multiplier * confidence)
    if size < p.min_qty - 1e-12 or p.notional(size, f.mid) < p.min_notional:
        return _HOLDS["size_zero"]
    stop, take_profit = exit_distances(f.mid, f.blend_vol, p, take_profit=kind != FUNDING, spread_bps=f.spread_bps)
    if not time_stop_ns and p.time_stop_ns:
        time_stop_ns = f.ts_event + p.time_stop_ns
    return Decision(ENTER, "taken", direction, size, kind, confidence, stop, take_profit, time_stop_ns)


def exit_distances(
    mid: float, blend_vol: float, p: DecisionParams, take_profit: bool = True, spread_bps: float = 0.0
) -> tuple[float, float]:
    """Stop and take-profit distances (price units) for a position entered near `mid`, the
    volatility `blend_vol` per bar, the spread `spread_bps` (take-profit 0: none). The take-profit
    is never nearer than `exits.min_take_profit_bps`, by default the round trip's fees plus the
    spread: a taker exit gives back up to the spread against the mid that triggered it."""
    stop = max(stop_distance(mid, blend_vol, p.stop_k, p.stop_horizon_bars), mid * p.min_stop_fraction)
    if not (take_profit and p.take_profit_k > 0.0):
        return stop, 0.0
    floor_bps = p.round_trip_fee_bps + spread_bps if p.min_take_profit_bps is None else p.min_take_profit_bps
    return stop, max(stop / p.stop_k * p.take_profit_k, mid * floor_bps * 1e-4)


def _exit(f: FeatureSnapshot, state: PositionState) -> Decision:
    if state.order_pending:
        return _HOLDS["exit_pending"]
    mid = f.mid
    side = state.side
    if (mid - state.stop_price) * side <= 0.0:
        return Decision(EXIT, "stop")
    if state.take_profit_price:
        touch = mid - side * 0.5e-4 * f.spread_bps * mid
        if (touch - state.take_profit_price) * side >= -1e-9 * mid:  # the touch rebuilt from the mid: float slack
            return Decision(EXIT, "take_profit")
    if state.time_stop_ns and f.ts_event >= state.time_stop_ns:
        return Decision(EXIT, "time_stop")
    if state.closed:
        return _KILL_SWITCH if state.halted else _FLATTEN
    return _HOLDS["in_position"]
