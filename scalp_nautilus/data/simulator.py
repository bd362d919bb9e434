"""Synthetic BTCUSDT-perpetual-like market: the built-in default data. SYNTHETIC, not market data.

The model, in event time (Poisson arrivals at a regime-dependent rate):

- a latent fair price switches between regimes: *mean-reverting* (Ornstein-Uhlenbeck around an
  anchor: anti-persistent returns, Hurst < 0.5) and *trending* (a drift up or down whose speed
  itself wanders as an OU process, so returns are persistent: Hurst > 0.5), each lasting an
  exponential time;
- market makers keep an L2 ladder around the fair price: when the fair price leaves the spread
  they cancel the stale side and quote again (a multi-level batch), otherwise noise traders add
  and cancel size at random levels (queues grow and shrink);
- market orders hit the best queue and walk the book when it is exhausted, one trade per level
  filled, with the aggressor side from the order; their side is informed (towards the fair price)
  with a probability that rises during *toxic bursts*, in which informed flow runs one way (the
  burst's direction, which also drags the fair price) at a higher arrival rate and larger sizes;
- funding: a history of 8-hourly settled rates before the simulated span (with an occasional
  outlier), then a mark price and predicted rate every second, as Binance's markPrice@1s stream,
  across one settlement.

Each book event is one delta batch (``F_LAST`` on its last delta, the batch number as its
sequence), or with `batch_ms` > 0 the events of each `batch_ms` window are netted into one batch
per window (each level changed once, to its final size: a price-level replacement, 0 = removed),
as Binance's depth stream publishes them. ``ts_init`` trails ``ts_event`` by a random receive
latency. Everything derives from `seed`, so a given (seed, minutes) always writes the same catalog.

`PROFILES` holds parameter sets; ``btcusdt`` (`data simulate --profile btcusdt`) runs at the
intensity of the shared real BTCUSDT captures (`BTCUSDT_CAPTURES`: depth updates a second, levels
per update, trades a second, volume a second), for scale tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from nautilus_trader.model.data import NULL_ORDER
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.data import FundingRateUpdate
from nautilus_trader.model.data import MarkPriceUpdate
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import RecordFlag
from nautilus_trader.model.identifiers import TradeId
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity

from scalp_nautilus.errors import InputError
from scalp_nautilus.instruments import KNOWN_SPECS
from scalp_nautilus.units import NS_PER_S

# Binance's BTCUSDT perpetual (tick, lot, limits) on the simulated venue.
SIM_SPEC = dataclasses.replace(KNOWN_SPECS[("BINANCE", "BTCUSDT")], venue="SIM", raw_symbol="BTCUSDT-PERP")

_F_LAST = int(RecordFlag.F_LAST)
_F_SNAPSHOT = int(RecordFlag.F_SNAPSHOT)
_FUNDING_INTERVAL_S = 8 * 3600


@dataclass(frozen=True)
class SimulationParams:
    """Every modelling assumption of the simulator, in plain units."""

    start: str = "2024-01-01T23:30:00Z"  # spans the 2024-01-02 00:00 funding settlement
    minutes: float = 60.0
    seed: int = 7
    price: float = 42_000.0
    levels: int = 40  # ladder depth per side kept by the market makers
    level_size: float = 0.25  # mean BTC per level at the top, growing with depth
    event_rate: float = 12.0  # book events per second, normal activity
    market_order_share: float = 0.18  # share of events that are market orders
    market_order_size: float = 0.08  # mean BTC per market order (exponential)
    informed_share: float = 0.35  # share of market orders on the fair price's side
    fair_vol: float = 0.8  # USD per sqrt(second) of the fair price
    ou_theta: float = 0.05  # per second, mean-reverting regime
    trend_drift: float = 0.4  # USD per second, mean drift of trending regimes
    trend_wander: float = 0.25  # USD per second, std of the drift's OU wandering (momentum)
    trend_memory: float = 20.0  # seconds, correlation time of the drift
    regime_minutes: float = 7.0  # mean regime duration
    burst_every_minutes: float = 9.0  # mean time between toxic bursts
    burst_seconds: float = 45.0  # mean toxic-burst length
    burst_rate_mult: float = 3.0
    burst_size_mult: float = 4.0
    burst_informed_share: float = 0.9
    latency_ms: float = 4.0  # mean receive latency (exponential) added to ts_event
    funding_history: int = 40  # settled intervals before the span (>= 30 for the arb detector)
    funding_mean: float = 0.0001
    funding_std: float = 0.00004
    funding_outlier_prob: float = 0.08
    noise_depth_p: float = 0.3  # geometric depth (from the touch) of noise limit orders: P(at the touch)
    batch_ms: float = 0.0  # > 0: the book events of each window netted into one batch (depth@Xms)


class MarketSimulator:
    def __init__(self, params: SimulationParams = SimulationParams()) -> None:
        if params.minutes <= 0:
            raise InputError("minutes must be > 0")
        if params.funding_history < 1:
            raise InputError("funding_history must be >= 1")
        self.p = params
        self.rng = np.random.default_rng(params.seed)
        self.instrument: CryptoPerpetual = SIM_SPEC.to_instrument()
        self._iid = self.instrument.id
        self._tick = float(SIM_SPEC.tick_size)
        self._lot = float(SIM_SPEC.step_size)
        self._pp = self.instrument.price_precision
        self._sp = self.instrument.size_precision
        self.regime_log: list[tuple[int, str]] = []  # (ts_ns, regime) at each switch
        self.burst_log: list[tuple[int, int]] = []  # (start_ns, end_ns) of each toxic burst
        self._last_ts_init = 0
        self.rates: dict[str, float] = {}  # `EventRates` of the written events (simulate_to_catalog)

    def events(self) -> Iterator[object]:
        """All simulated data in non-decreasing ts_init order."""
        start_ns = pd.Timestamp(self.p.start).value
        end_ns = start_ns + int(self.p.minutes * 60 * NS_PER_S)
        yield from self._funding_history(start_ns)
        yield from self._market(start_ns, end_ns)

    # ------------------------------------------------------------------ helpers

    def _ts_init(self, ts_event: int) -> int:
        ts = max(ts_event + int(self.rng.exponential(self.p.latency_ms) * 1_000_000), self._last_ts_init)
        self._last_ts_init = ts
        return ts

    def _size(self, mean: float) -> float:
        return max(self._lot, round(self.rng.exponential(mean) / self._lot) * self._lot)

    def _delta(
        self, action: BookAction, side: OrderSide, tick: int, size: float, flags: int, seq: int, ts_event: int, ts_init: int
    ) -> OrderBookDelta:
        order = BookOrder(side, Price(tick * self._tick, self._pp), Quantity(size, self._sp), 0)
        return OrderBookDelta(self._iid, action, order, flags, seq, ts_event, ts_init)

    # ------------------------------------------------------------------ funding

    def _funding_rate(self) -> float:
        r = self.rng.normal(self.p.funding_mean, self.p.funding_std)
        if self.rng.random() < self.p.funding_outlier_prob:
            r += self.rng.choice([-1.0, 1.0]) * self.rng.uniform(6, 10) * self.p.funding_std
        return r

    def _funding(self, rate: float, ts: int, ts_init: int, next_funding: int | None) -> FundingRateUpdate:
        return FundingRateUpdate(
            self._iid,
            Decimal(f"{rate:.8f}"),
            ts,
            ts_init,
            interval=_FUNDING_INTERVAL_S // 60,
            next_funding_ns=next_funding,
        )

    def _funding_history(self, start_ns: int) -> Iterator[FundingRateUpdate]:
        """One settled rate per interval, stamped at its settlement time (no next funding time)."""
        step = _FUNDING_INTERVAL_S * NS_PER_S
        last = (start_ns // step) * step
        for k in range(self.p.funding_history - 1, -1, -1):
            ts = last - k * step
            self._last_ts_init = ts
            yield self._funding(self._funding_rate(), ts, ts, None)

    # ------------------------------------------------------------------ market

    def _market(self, start_ns: int, end_ns: int) -> Iterator[object]:
        p, rng = self.p, self.rng
        step = _FUNDING_INTERVAL_S * NS_PER_S
        fair = anchor = p.price
        regime = "mean_reverting"
        regime_end = start_ns + int(rng.exponential(p.regime_minutes * 60) * NS_PER_S)
        burst_end = 0
        burst_dir = 0.0
        wander = 0.0
        next_burst = start_ns + int(rng.exponential(p.burst_every_minutes * 60) * NS_PER_S)
        predicted = self._funding_rate()
        self.regime_log.append((start_ns, regime))
        center = round(fair / self._tick)
        bids = {center - 1 - k: self._level_size(k) for k in range(p.levels)}
        asks = {center + 1 + k: self._level_size(k) for k in range(p.levels)}
        seq, trade_id = 1, 1
        yield from self._snapshot(bids, asks, seq, start_ns)
        batch_ns = round(p.batch_ms * 1_000_000)
        batch_end = (start_ns // batch_ns + 1) * batch_ns if batch_ns else 0
        pending: dict[tuple[OrderSide, int], float] = {}  # (side, tick) -> size at the window's end
        t = start_ns
        next_second = start_ns + NS_PER_S
        while True:
            in_burst = t < burst_end
            rate = p.event_rate * (p.burst_rate_mult if in_burst else 1.0)
            dt = rng.exponential(1.0 / rate)
            # latent fair price over dt
            if regime == "mean_reverting":
                decay = np.exp(-p.ou_theta * dt)
                fair = anchor + (fair - anchor) * decay + p.fair_vol * np.sqrt((1 - decay**2) / (2 * p.ou_theta)) * rng.normal()
            else:
                drift = p.trend_drift if regime == "trend_up" else -p.trend_drift
                keep = np.exp(-dt / p.trend_memory)
                wander = wander * keep + p.trend_wander * np.sqrt(1 - keep**2) * rng.normal()
                fair += (drift + wander) * dt + p.fair_vol * np.sqrt(dt) * rng.normal()
            if in_burst:
                fair += burst_dir * 3 * p.trend_drift * dt
            t_new = t + int(dt * NS_PER_S)
            while next_second <= min(t_new, end_ns):
                # markPrice@1s: mark near the fair price, predicted funding drifting. As on
                # Binance, the update at the settlement instant still names that settlement (its
                # rate is the settled one); a new prediction starts after it.
                predicted = float(np.clip(predicted + rng.normal(0, 2e-7), -0.003, 0.003))
                ts_i = self._ts_init(next_second)
                yield MarkPriceUpdate(self._iid, Price(fair * (1 + rng.normal(0, 5e-6)), 8), next_second, ts_i)
                yield self._funding(predicted, next_second, ts_i, self._next_settlement(next_second - 1))
                if next_second % step == 0:
                    predicted = self._funding_rate()
                next_second += NS_PER_S
            if t_new > end_ns:
                yield from self._flush(pending, seq, min(batch_end, end_ns))
                return
            t = t_new
            if t >= regime_end:
                regime = str(rng.choice([r for r in ("mean_reverting", "trend_up", "trend_down") if r != regime]))
                anchor = fair
                regime_end = t + int(rng.exponential(p.regime_minutes * 60) * NS_PER_S)
                self.regime_log.append((t, regime))
            if t >= next_burst:
                burst_end = t + int(rng.exponential(p.burst_seconds) * NS_PER_S)
                burst_dir = float(rng.choice([-1.0, 1.0]))
                next_burst = burst_end + int(rng.exponential(p.burst_every_minutes * 60) * NS_PER_S)
                self.burst_log.append((t, burst_end))
            seq += 1
            best_bid, best_ask = max(bids), min(asks)
            fair_tick = fair / self._tick
            if fair_tick > best_ask + 1 or fair_tick < best_bid - 1:
                changes = self._requote(bids, asks, round(fair_tick))
                trades: list = []
            elif rng.random() < p.market_order_share:
                if in_burst and rng.random() < p.burst_informed_share:
                    buy = burst_dir > 0
                elif rng.random() < p.informed_share:
                    buy = fair_tick > 0.5 * (best_bid + best_ask)
                else:
                    buy = rng.random() < 0.5
                size = self._size(p.market_order_size * (p.burst_size_mult if in_burst else 1.0))
                changes, trades = self._market_order(bids, asks, buy, size)
            else:
                changes = self._noise(bids, asks, best_bid, best_ask)
                trades = []
            changes += self._maintain(bids, asks)
            if batch_ns:
                if t >= batch_end:
                    yield from self._flush(pending, seq, batch_end)
                    batch_end = (t // batch_ns + 1) * batch_ns
                for _, side, tick, size in changes:
                    pending[(side, tick)] = size
                changes = []
            elif not changes:
                continue
            ts_init = self._ts_init(t)
            for price_tick, size, buy in trades:
                yield TradeTick(
                    self._iid,
                    Price(price_tick * self._tick, self._pp),
                    Quantity(size, self._sp),
                    AggressorSide.BUYER if buy else AggressorSide.SELLER,
                    TradeId(str(trade_id)),
                    t,
                    ts_init,
                )
                trade_id += 1
            last = len(changes) - 1
            for i, (action, side, tick, size) in enumerate(changes):
                yield self._delta(action, side, tick, size, _F_LAST if i == last else 0, seq, t, ts_init)

    def _flush(self, pending: dict, seq: int, ts: int) -> Iterator[OrderBookDelta]:
        """One window's netted changes as one batch stamped at the window's end."""
        if not pending:
            return
        ts_init = self._ts_init(ts)
        last = len(pending) - 1
        for i, ((side, tick), size) in enumerate(pending.items()):
            action = BookAction.UPDATE if size > 0 else BookAction.DELETE
            yield self._delta(action, side, tick, size, _F_LAST if i == last else 0, seq, ts, ts_init)
        pending.clear()

    def _level_size(self, depth: int) -> float:
        return self._size(self.p.level_size * (1.0 + 0.08 * depth))

    def _snapshot(self, bids: dict, asks: dict, seq: int, ts: int) -> Iterator[OrderBookDelta]:
        ts_init = self._ts_init(ts)
        yield OrderBookDelta(self._iid, BookAction.CLEAR, NULL_ORDER, _F_SNAPSHOT, seq, ts, ts_init)
        levels = [(OrderSide.BUY, k, v) for k, v in sorted(bids.items(), reverse=True)]
        levels += [(OrderSide.SELL, k, v) for k, v in sorted(asks.items())]
        for i, (side, tick, size) in enumerate(levels):
            flags = _F_SNAPSHOT | (_F_LAST if i == len(levels) - 1 else 0)
            yield self._delta(BookAction.ADD, side, tick, size, flags, seq, ts, ts_init)

    def _requote(self, bids: dict, asks: dict, fair_tick: int) -> list:
        """Market makers pull quotes the fair price has crossed and quote again around it."""
        changes = []
        if fair_tick > min(asks):
            for k in [k for k in asks if k <= fair_tick]:
                del asks[k]
                changes.append((BookAction.DELETE, OrderSide.SELL, k, 0.0))
            top = max(bids)
            for depth, k in enumerate(range(fair_tick - 1, top, -1)):
                bids[k] = self._level_size(depth)
                changes.append((BookAction.ADD, OrderSide.BUY, k, bids[k]))
            if fair_tick + 1 not in asks:
                asks[fair_tick + 1] = self._level_size(0)
                changes.append((BookAction.ADD, OrderSide.SELL, fair_tick + 1, asks[fair_tick + 1]))
        else:
            for k in [k for k in bids if k >= fair_tick]:
                del bids[k]
                changes.append((BookAction.DELETE, OrderSide.BUY, k, 0.0))
            top = min(asks)
            for depth, k in enumerate(range(fair_tick + 1, top)):
                asks[k] = self._level_size(depth)
                changes.append((BookAction.ADD, OrderSide.SELL, k, asks[k]))
            if fair_tick - 1 not in bids:
                bids[fair_tick - 1] = self._level_size(0)
                changes.append((BookAction.ADD, OrderSide.BUY, fair_tick - 1, bids[fair_tick - 1]))
        return changes

    def _market_order(self, bids: dict, asks: dict, buy: bool, size: float) -> tuple[list, list]:
        """Walk the opposite side: one trade per level filled, the last level possibly partial."""
        book, side = (asks, OrderSide.SELL) if buy else (bids, OrderSide.BUY)
        changes, trades = [], []
        remaining = size
        while remaining >= self._lot and len(book) > 1:
            best = min(book) if buy else max(book)
            take = min(remaining, book[best])
            trades.append((best, round(take, self._sp), buy))
            left = round(book[best] - take, self._sp)
            if left < self._lot:
                del book[best]
                changes.append((BookAction.DELETE, side, best, 0.0))
            else:
                book[best] = left
                changes.append((BookAction.UPDATE, side, best, left))
            remaining = round(remaining - take, self._sp)
        return changes, trades

    def _noise(self, bids: dict, asks: dict, best_bid: int, best_ask: int) -> list:
        """A limit order joining a queue (possibly inside the spread) or a partial cancel."""
        rng = self.rng
        buy = rng.random() < 0.5
        book, side = (bids, OrderSide.BUY) if buy else (asks, OrderSide.SELL)
        if rng.random() < 0.55:
            depth = int(rng.geometric(self.p.noise_depth_p)) - 1
            inside = best_ask - best_bid > 1 and rng.random() < 0.3
            k = (best_bid + 1 if buy else best_ask - 1) if inside else (best_bid - depth if buy else best_ask + depth)
            add = self._size(self.p.level_size * 0.5)
            action = BookAction.UPDATE if k in book else BookAction.ADD
            book[k] = round(book.get(k, 0.0) + add, self._sp)
            return [(action, side, k, book[k])]
        near = sorted(book, reverse=buy)[:20]
        weights = np.array([book[k] for k in near])
        k = near[int(rng.choice(len(near), p=weights / weights.sum()))]
        left = round(book[k] * rng.uniform(0.0, 0.8), self._sp)
        if left < self._lot or len(book) <= 2:
            if len(book) <= 2:
                return []
            del book[k]
            return [(BookAction.DELETE, side, k, 0.0)]
        book[k] = left
        return [(BookAction.UPDATE, side, k, left)]

    def _maintain(self, bids: dict, asks: dict) -> list:
        """Keep each side between `levels` and twice that: refill the far end, trim the tail."""
        changes = []
        for book, side, sign in ((bids, OrderSide.BUY, -1), (asks, OrderSide.SELL, 1)):
            while len(book) < self.p.levels:
                far = (min(book) if sign < 0 else max(book)) + sign * int(self.rng.integers(1, 4))
                book[far] = self._level_size(len(book))
                changes.append((BookAction.ADD, side, far, book[far]))
            while len(book) > 2 * self.p.levels:
                far = min(book) if sign < 0 else max(book)
                del book[far]
                changes.append((BookAction.DELETE, side, far, 0.0))
        return changes

    def _next_settlement(self, ts_ns: int) -> int:
        step = _FUNDING_INTERVAL_S * NS_PER_S
        return (ts_ns // step + 1) * step


# The shared real BTCUSDT-perpetual captures (../shared/data/binance-futures, USDT-M), measured by
# `capture_rates` on their imports: depth updates a second, deltas (levels) per update, trades a
# second, traded BTC a second. tests/test_scale_data.py recomputes them from the captures.
BTCUSDT_CAPTURES = {
    "usdm_2023_04": {"updates_s": 31.33, "levels_per_update": 20.03, "trades_s": 25.15, "volume_s": 2.31},
    "usdm_2024_07": {"updates_s": 18.80, "levels_per_update": 44.43, "trades_s": 22.32, "volume_s": 2.34},
    "usdm_2024_08": {"updates_s": 18.99, "levels_per_update": 67.70, "trades_s": 61.82, "volume_s": 7.05},
}

PROFILES = {
    "default": SimulationParams(),
    # Real intensity (the captures' middle): ~23 depth updates a second (44 ms windows) netting ~40
    # level changes each (noise orders spread deep over a 200-level ladder), ~35 trades and ~4 BTC
    # a second.
    "btcusdt": SimulationParams(
        levels=200,
        level_size=1.5,
        event_rate=650.0,
        market_order_share=0.045,
        market_order_size=0.14,
        noise_depth_p=0.03,
        batch_ms=44.0,
    ),
}


class EventRates:
    """Depth updates (batches) a second, deltas per update (snapshots excluded), trades a second
    and traded size a second over the span of the book and trade events `observe`d."""

    def __init__(self) -> None:
        self.batches = self.deltas = self.trades = 0
        self.volume = 0.0
        self.first: int | None = None
        self.last = 0

    def observe(self, e):
        if isinstance(e, OrderBookDelta):
            if e.flags & _F_SNAPSHOT:
                return e
            self.deltas += 1
            self.batches += bool(e.flags & _F_LAST)
        elif isinstance(e, TradeTick):
            self.trades += 1
            self.volume += float(e.size)
        else:
            return e
        if self.first is None:
            self.first = e.ts_event
        self.last = e.ts_event
        return e

    @property
    def rates(self) -> dict[str, float]:
        span = (self.last - self.first) / NS_PER_S if self.first is not None and self.last > self.first else float("nan")
        return {
            "updates_s": self.batches / span,
            "levels_per_update": self.deltas / self.batches if self.batches else float("nan"),
            "trades_s": self.trades / span,
            "volume_s": self.volume / span,
        }


def capture_rates(events) -> dict[str, float]:
    counter = EventRates()
    for e in events:
        counter.observe(e)
    return counter.rates


def rates_table(simulated: dict[str, float]) -> str:
    """The simulated rates beside the real captures'."""
    names = ["simulated", *BTCUSDT_CAPTURES]
    rows = [simulated, *BTCUSDT_CAPTURES.values()]
    lines = [f"{'':<20}" + "".join(f"{n:>15}" for n in names)]
    for key in ("updates_s", "levels_per_update", "trades_s", "volume_s"):
        lines.append(f"{key:<20}" + "".join(f"{r[key]:>15.2f}" for r in rows))
    return "\n".join(lines)


def simulate_to_catalog(path, params: SimulationParams = SimulationParams(), replace: bool = False):
    """Write the simulated instrument and data into the catalog at `path`."""
    from scalp_nautilus.data.catalog import write_to_catalog

    sim = MarketSimulator(params)
    counter = EventRates()
    writer = write_to_catalog(map(counter.observe, sim.events()), sim.instrument, path, replace=replace)
    sim.rates = counter.rates
    return writer, sim
