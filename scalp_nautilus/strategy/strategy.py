"""`ScalpStrategy`: routes data into the feature pipeline, calls the decision, manages orders and
books funding. The maths lives in the indicators and the rules in `decision.decide`.

Per instance: one instrument (several instances, each with its own `order_id_tag`, can share a
node). Data: L2 order-book deltas (Nautilus keeps the managed book; with the data engine's
``buffer_deltas=True`` one callback per exchange message), trades, and funding (Nautilus's
`FundingRateUpdate` + `MarkPriceUpdate`, or Binance's `BinanceFuturesMarkPriceUpdate` custom data
in live Binance: `funding.feed`). Each delta batch gives one `BookSnapshot`, one `FeatureSnapshot`
and one decision.

Orders: entries are IOC limits `orders.entry_slippage_bps` through the touch, exits reduce-only
IOC market orders; tags name the purpose (``entry:<signal set>``, ``exit:<reason>``) so Nautilus's
fills report carries them. While an order of ours is in flight no other is sent (the latch); after
the venue rejects one, the latch holds for `orders.reject_pause_s` more of exchange time.
A feed watchdog (`exits.stale_feed_s`, on the node's clock) closes a position when the book has
not updated for that long: its stops cannot fire on a book that does not move.

Live (`scalp_nautilus.live`): with `state.path` the pipeline's warm state is restored on start and
saved on stop and every `state.save_every_s` (`scalp_nautilus.strategy.warm`). Orders and a
position that Nautilus reconciled at start and assigned to this strategy (`external_order_claims`)
are adopted: an open order holds the latch until it closes, and a position gets exits as if it
had been entered at its average price: a time stop from the first book batch, stop and
take-profit once the volatility is known (at once with a restored state).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from datetime import timedelta

import pandas as pd

from nautilus_trader.model.data import DataType
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.events import OrderRejected
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.objects import Price
from nautilus_trader.trading.strategy import Strategy

from scalp_nautilus import log_bridge
from scalp_nautilus.config import parse_utc
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.recorder import FeatureRecorder
from scalp_nautilus.strategy import warm
from scalp_nautilus.strategy.config import ScalpStrategyConfig
from scalp_nautilus.strategy.config import build_builder
from scalp_nautilus.strategy.config import build_pipeline
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import ENTRY_OUTCOMES
from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.decision import EXIT_OUTCOMES
from scalp_nautilus.strategy.decision import FLAT
from scalp_nautilus.strategy.decision import POSITION_OUTCOMES
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.decision import PositionState
from scalp_nautilus.strategy.decision import decide
from scalp_nautilus.strategy.decision import exit_distances
from scalp_nautilus.strategy.funding import FundingLedger
from scalp_nautilus.strategy.funding import funding_input
from scalp_nautilus.strategy.records import RoundTrip
from scalp_nautilus.strategy.records import StrategyReport
from scalp_nautilus.strategy.records import Timeline
from scalp_nautilus.strategy.warmup import warm_kernels

_S = 1_000_000_000
ADOPTED = "adopted"  # the signal set of a position taken over at start


class ScalpStrategy(Strategy):
    def __init__(self, config: ScalpStrategyConfig) -> None:
        super().__init__(config)
        self.instrument = None
        self.pipeline = None
        self.ledger: FundingLedger | None = None
        self._recorder: FeatureRecorder | None = None
        self._clear()

    def _clear(self) -> None:
        """The run's records and position state (the indicators are rebuilt by `on_start`)."""
        self.outcomes: Counter = Counter()
        self.round_trips: list[RoundTrip] = []
        self.timeline = Timeline(round(self.config.equity_sample_s * _S))
        self.batches = 0
        self._state = FLAT
        self._pending: ClientOrderId | None = None  # the latch
        self._plan: Decision | None = None  # the entry decision behind the open position
        self._exit_reason = ""
        self._funding_times: set[int] = set()
        self._row: FeatureSnapshot | None = None
        self._adopting = False  # a position taken over at start still waits for its exits
        self._pause_until_ns = 0  # after a rejection: the latch holds until this exchange time
        self.warm_restored = False
        self._restored_ns = 0  # exchange time the restored state ended at, until the feed confirms it
        self._last_book_ns = 0  # node clock at the latest book batch (the feed watchdog)
        self._stale = False  # the watchdog found the feed silent; cleared by the next batch
        self.stale_feeds = 0  # silences found by the watchdog

    # ------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        log_bridge.attach()  # the indicators' and models' logging into Nautilus's (detached on stop)
        config = self.config
        iid = config.instrument_id
        self.instrument = self.cache.instrument(iid)
        if self.instrument is None:
            self.log.error(f"Could not find instrument for {iid}")
            self.stop()
            return
        self.pipeline = build_pipeline(config)
        self._builder = build_builder(config, self.instrument)
        warm_kernels(self._builder)  # numba's cache load here, not on the first book batch
        self._params = DecisionParams(config, self.instrument)
        self.ledger = FundingLedger(self.instrument, round(config.funding.settle_grace_s * _S))
        self._venue = iid.venue
        self._currency = self.instrument.get_settlement_currency()
        self._mark_precision = self.instrument.price_precision + 1  # a mid can sit half a tick off the grid
        self._slippage = config.orders.entry_slippage_bps * 1e-4
        self._cooldown_ns = round(config.orders.cooldown_s * _S)
        self._reject_pause_ns = round(config.orders.reject_pause_s * _S)
        if config.state.path:
            self._restore_state()
        self._adopt()
        if config.record_features:
            self._recorder = FeatureRecorder(config.record_features)
        self.subscribe_order_book_deltas(iid, BookType.L2_MBP, managed=True)
        self.subscribe_trade_ticks(iid)
        if config.funding.feed == "binance_mark_price":
            # Live Binance futures: funding and mark come together as custom data.
            from nautilus_trader.adapters.binance.futures.types import BinanceFuturesMarkPriceUpdate

            # 1.231 sends the subscription to a client only given `client_id` or `instrument_id`
            # (the venue's client); without both it logs an error and nothing arrives.
            self.subscribe_data(DataType(BinanceFuturesMarkPriceUpdate, metadata={"instrument_id": iid}), instrument_id=iid)
        else:
            self.subscribe_funding_rates(iid)
            self.subscribe_mark_prices(iid)
        if config.exits.stale_feed_s:
            self._stale_feed_ns = round(config.exits.stale_feed_s * _S)
            self._last_book_ns = self.clock.timestamp_ns()
            every = timedelta(seconds=min(1.0, config.exits.stale_feed_s / 2))
            self.clock.set_timer(f"feed-watchdog-{iid}", every, callback=self._watch_feed)
        if config.orders.flatten_at:
            at = parse_utc(config.orders.flatten_at)
            if at.value > self.clock.timestamp_ns():
                self.clock.set_time_alert(f"flatten-{iid}", at, self._on_flatten)
            else:
                self._state = dataclasses.replace(self._state, closed=True)

    def on_stop(self) -> None:
        log_bridge.detach()
        if self.instrument is None:
            return
        iid = self.instrument.id
        self.cancel_all_orders(iid)
        self.close_all_positions(iid)
        self._book_funding(final=True)
        if self.config.state.path:
            self._save_state()
        if self._recorder is not None:
            self._recorder.close()
        self.log.info(f"decisions {dict(self.outcomes)}; funding booked {self.ledger.total:.8f} {self._currency}")

    def on_reset(self) -> None:
        self._clear()

    # ------------------------------------------------------------------ live: warm state, adoption

    def _restore_state(self) -> None:
        s = self.config.state
        reason = warm.restore(s.path, self.pipeline, str(self.instrument.id), self.clock.timestamp_ns(), round(s.max_age_s * _S))
        self.warm_restored = reason is None
        if reason is None:
            self._restored_ns = self.pipeline.snapshot().ts_event
            self.log.info(f"warm state restored from {s.path}: the indicators continue where they stopped")
        else:
            self.log.warning(f"starting cold ({reason}): no signal until the indicators are warm")
        self.clock.set_timer(f"warm-state-{self.instrument.id}", timedelta(seconds=s.save_every_s), callback=self._save_state)

    def _confirm_restored(self, ts_event: int) -> None:
        """The first event after a restore: the feed must continue the saved state, not precede it
        (a replay started over) nor come more than `state.max_age_s` after it."""
        gap = ts_event - self._restored_ns
        self._restored_ns = 0
        if -_S <= gap <= round(self.config.state.max_age_s * _S):  # streams interleave within a second
            return
        self.pipeline.reset()
        self.warm_restored = False
        self.log.warning(f"warm state discarded: the feed starts {gap / _S:+.1f} s after it ends; "
                         "no signal until the indicators are warm")

    def _save_state(self, event=None) -> None:
        path = self.config.state.path
        try:
            warm.save(path, self.pipeline, str(self.instrument.id), self.clock.timestamp_ns())
        except OSError as exc:
            self.log.error(f"warm state not saved to {path}: {exc}")

    def _adopt(self) -> None:
        """Take over what reconciliation assigned to this strategy (see the module doc)."""
        iid = self.instrument.id
        orders = self.cache.orders_open(instrument_id=iid, strategy_id=self.id)
        if orders:
            self._latch(orders[0].client_order_id)
            self.log.warning(f"adopted {len(orders)} open order(s) of {iid}: no new order until they close")
        position = self._position()
        if position is not None:
            side = 1 if position.is_long else -1
            # No stop until the volatility is known: a price no mid can cross.
            self._state = dataclasses.replace(self._state, side=side, stop_price=0.0 if side > 0 else math.inf)
            self._adopting = True
            self.log.warning(
                f"adopted position {position.signed_qty} {iid} @ {position.avg_px_open}: exits from the first book update"
            )

    def _plan_adopted(self, row: FeatureSnapshot) -> None:
        position = self._position()
        if position is None:
            self._adopting = False
            return
        p = self._params
        time_stop = self._state.time_stop_ns or (row.ts_event + p.time_stop_ns if p.time_stop_ns else 0)
        if not (row.book_valid and row.blend_vol > 0.0):
            self._state = dataclasses.replace(self._state, time_stop_ns=time_stop)
            return
        side = self._state.side
        stop, take_profit = exit_distances(row.mid, row.blend_vol, p)
        self._plan = Decision(ENTER, ADOPTED, side, position.quantity.as_double(), ADOPTED, 0.0, stop, take_profit, time_stop)
        self._place_exits(side, position.avg_px_open)
        self._adopting = False

    # ------------------------------------------------------------------ data

    def on_order_book_deltas(self, deltas) -> None:
        if self._restored_ns:
            self._confirm_restored(deltas.ts_event)
        self._last_book_ns = deltas.ts_init  # the node's clock when the batch arrived
        if self._stale:
            self._stale = False
            self.log.warning(f"{deltas.instrument_id}: book updates resumed")
        book = self.cache.order_book(deltas.instrument_id)
        snapshot = self._builder.from_book(book, deltas.ts_event, deltas.ts_init, deltas.sequence)
        row = self.pipeline.on_book(snapshot)
        self._row = row
        self.batches += 1
        if self._recorder is not None:
            self._recorder.record(row)
        if row.ts_event >= self.timeline.next_ns and row.book_valid:
            self._sample(row)
        if self._pause_until_ns and row.ts_event >= self._pause_until_ns:
            self._pause_until_ns = 0
            self._state = dataclasses.replace(self._state, order_pending=False)
        if self._adopting:
            self._plan_adopted(row)
        self._act(self._decide(row))

    def _watch_feed(self, event) -> None:
        """The feed watchdog (`exits.stale_feed_s`): a position is not held on a silent book."""
        silent_ns = self.clock.timestamp_ns() - self._last_book_ns
        if silent_ns < self._stale_feed_ns or not (self.batches or self._state.side):
            return  # before the first batch only an adopted position makes a silence matter
        if not self._stale:
            self._stale = True
            self.stale_feeds += 1
            self.log.warning(f"{self.instrument.id}: no book update for {silent_ns / _S:.1f} s: feed stale"
                             + (", closing the position" if self._state.side else ""))
        if self._state.side and not self._state.order_pending:
            self._act(Decision(EXIT, "stale_feed"))

    def on_trade_tick(self, tick) -> None:
        if self._restored_ns:
            self._confirm_restored(tick.ts_event)
        self.pipeline.on_trade_tick(tick)

    def on_funding_rate(self, update) -> None:
        self._on_funding(update)

    def on_mark_price(self, update) -> None:
        self._on_funding(update)

    def on_data(self, data) -> None:
        if hasattr(data, "funding_rate"):  # BinanceFuturesMarkPriceUpdate (funding.feed binance_mark_price)
            self._on_funding(data)

    # ------------------------------------------------------------------ decisions and orders

    def _decide(self, row: FeatureSnapshot) -> Decision:
        return decide(row, self._state, self._params)

    def _act(self, decision: Decision) -> None:
        self.outcomes[decision.outcome] += 1
        if decision.action == ENTER:
            self._enter(decision)
        elif decision.action == EXIT:
            self._exit(decision)

    def _enter(self, d: Decision) -> None:
        inst = self.instrument
        book = self.cache.order_book(inst.id)
        buy = d.direction > 0
        touch = book.best_ask_price() if buy else book.best_bid_price()
        if touch is None:  # the decision saw a valid book; this is the same book
            return
        touch = float(touch)
        limit = inst.make_price(touch * (1.0 + self._slippage if buy else 1.0 - self._slippage))
        order = self.order_factory.limit(
            instrument_id=inst.id,
            order_side=OrderSide.BUY if buy else OrderSide.SELL,
            quantity=inst.make_qty(d.size),
            price=limit,
            time_in_force=TimeInForce.IOC,
            tags=[f"entry:{d.kind}"],
        )
        self._plan = d
        self._latch(order.client_order_id)
        self.submit_order(order)

    def _exit(self, d: Decision) -> None:
        position = self._position()
        if position is None:  # closed under us (e.g. a reduce-only fill raced the decision)
            self._state = self._flat(self._state.cooldown_until_ns)
            return
        order = self.order_factory.market(
            instrument_id=position.instrument_id,
            order_side=OrderSide.SELL if position.is_long else OrderSide.BUY,
            quantity=position.quantity,
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            tags=[f"exit:{d.outcome}"],
        )
        self._exit_reason = d.outcome
        self._latch(order.client_order_id)
        self.submit_order(order, position_id=position.id)

    def _latch(self, client_order_id: ClientOrderId) -> None:
        self._pending = client_order_id
        self._state = dataclasses.replace(self._state, order_pending=True)

    def on_order_event(self, event) -> None:
        if event.client_order_id != self._pending:
            return
        order = self.cache.order(event.client_order_id)
        if order is None or not order.is_closed:
            return
        self._pending = None
        others = self.cache.orders_open(instrument_id=self.instrument.id, strategy_id=self.id)
        if others:  # adopted orders: the latch moves to the next one
            self._latch(others[0].client_order_id)
        elif isinstance(event, OrderRejected) and self._reject_pause_ns and self._row is not None:
            self._pause_until_ns = self._row.ts_event + self._reject_pause_ns
            self.log.warning(f"{event.client_order_id} rejected ({event.reason}): no new order for "
                             f"{self.config.orders.reject_pause_s} s")
        else:
            self._state = dataclasses.replace(self._state, order_pending=False)

    def on_position_opened(self, event) -> None:
        self._on_position(event)

    def on_position_changed(self, event) -> None:
        self._on_position(event)

    def _on_position(self, event) -> None:
        """Stops from the entry plan, placed around the position's average entry price."""
        plan = self._plan
        if plan is None or event.strategy_id != self.id:
            return
        self._place_exits(1 if event.signed_qty > 0 else -1, event.avg_px_open)

    def _place_exits(self, side: int, entry: float) -> None:
        """The plan's stop, take-profit and time stop around the position's average entry price."""
        plan = self._plan
        self._state = dataclasses.replace(
            self._state,
            side=side,
            stop_price=entry - side * plan.stop_distance,
            take_profit_price=entry + side * plan.take_profit_distance if plan.take_profit_distance else 0.0,
            time_stop_ns=plan.time_stop_ns,
        )

    def on_position_closed(self, event) -> None:
        if event.strategy_id != self.id:
            return
        position = self.cache.position(event.position_id)
        commissions = sum(m.as_double() for m in position.commissions() if m.currency == self._currency) if position else 0.0
        plan = self._plan
        self.round_trips.append(RoundTrip(
            event.ts_opened, event.ts_closed, 1 if event.entry == OrderSide.BUY else -1, float(event.peak_qty),
            event.avg_px_open, event.avg_px_close, event.realized_pnl.as_double(), commissions,
            plan.kind if plan else "", self._exit_reason,
        ))
        self._plan = None
        self._exit_reason = ""
        self._state = self._flat(event.ts_closed + self._cooldown_ns)

    def _flat(self, cooldown_until_ns: int) -> PositionState:
        """No position; the latch, trading hours and funding clock carry over."""
        s = self._state
        return dataclasses.replace(
            FLAT, order_pending=s.order_pending, closed=s.closed, cooldown_until_ns=cooldown_until_ns,
            next_funding_ns=s.next_funding_ns,
        )

    def _on_flatten(self, event) -> None:
        self._state = dataclasses.replace(self._state, closed=True)
        if self._row is not None and self._state.side:  # exit now: the data may end before the next batch
            self._act(self._decide(self._row))

    def _position(self):
        positions = self.cache.positions_open(instrument_id=self.instrument.id, strategy_id=self.id)
        return positions[0] if positions else None

    def _signed_position(self) -> float:
        return sum(p.signed_qty for p in self.cache.positions_open(instrument_id=self.instrument.id, strategy_id=self.id))

    # ------------------------------------------------------------------ funding

    def _on_funding(self, obj) -> None:
        x = funding_input(obj)
        ledger = self.ledger
        if x.mark is not None:
            ledger.on_mark(x.mark, x.ts_event)
        if x.rate is None:
            return
        self.pipeline.on_funding(obj)
        settlement = ledger.on_rate(x.rate, x.ts_event, x.next_funding_ns)
        if settlement is not None and settlement not in self._funding_times:
            self._funding_times.add(settlement)
            if settlement > self.clock.timestamp_ns():
                self.clock.set_time_alert(
                    f"funding-{self.instrument.id}-{settlement}", pd.Timestamp(settlement, tz="UTC"), self._on_settlement
                )
            else:  # a settled record arriving at its time, or a settlement before we started
                ledger.record(settlement, self._signed_position(), self._mid())
        detector = self.pipeline.funding
        next_funding = detector.next_funding_ns or (
            detector.last_settlement_ns + detector.interval_ns if detector.interval_ns else 0
        )
        if next_funding != self._state.next_funding_ns:
            self._state = dataclasses.replace(self._state, next_funding_ns=next_funding)
        self._book_funding()

    def _on_settlement(self, event) -> None:
        self.ledger.record(event.ts_event, self._signed_position(), self._mid())
        self._book_funding()

    def _book_funding(self, final: bool = False) -> None:
        for p in self.ledger.book(self.clock.timestamp_ns(), final_only=not final):
            self.log.info(f"funding {pd.Timestamp(p.ts_ns, tz='UTC')}: position {p.position} x mark {p.mark} "
                          f"x rate {p.rate} -> {p.amount:+.8f} {p.currency}")

    def _mid(self) -> float:
        return self._row.mid if self._row is not None else 0.0

    # ------------------------------------------------------------------ reports

    def _sample(self, row: FeatureSnapshot) -> None:
        account = self.portfolio.account(self._venue)
        equity = account.balance_total(self._currency).as_double() if account is not None else math.nan
        position = self._position() if self._state.side else None
        signed = 0.0
        if position is not None:
            signed = position.signed_qty
            equity += position.unrealized_pnl(Price(row.mid, self._mark_precision)).as_double()
        equity += self.ledger.total
        self.timeline.add(row.ts_event, row.mid, equity, signed, row.vpin, row.vpin_regime, row.hurst, row.regime_multiplier)

    def report(self) -> StrategyReport:
        order = ENTRY_OUTCOMES + EXIT_OUTCOMES + POSITION_OUTCOMES
        return StrategyReport(
            instrument_id=str(self.config.instrument_id),
            currency=self._currency.code if self.instrument is not None else "",
            outcomes={name: self.outcomes.get(name, 0) for name in order},
            round_trips=list(self.round_trips),
            funding=list(self.ledger.payments) if self.ledger is not None else [],
            timeline=self.timeline.frame(),
            batches=self.batches,
            skips={**self._builder.skips.counts, **self.pipeline.skip_counts()} if self.pipeline is not None else {},
            bounds=self._bounds(),
        )

    def _bounds(self) -> dict[str, float]:
        v, s = self.config.vpin.thresholds, self.config.signals
        return {
            "vpin_low": v[0], "vpin_medium": v[1], "vpin_high": v[2],
            "hurst_mr": s.hurst_mean_reversion_below, "hurst_dead_low": s.dead_zone_low,
            "hurst_dead_high": s.dead_zone_high, "hurst_momentum": s.hurst_momentum_above,
        }
