"""`ScalpStrategy`: routes data into the feature pipeline, calls the decision, manages orders and
books funding. The maths lives in the indicators and the rules in `decision.decide`.

Per instance: one instrument (several instances, each with its own `order_id_tag`, can share a
node). Data: L2 order-book deltas (Nautilus keeps the managed book; with the data engine's
``buffer_deltas=True`` one callback per exchange message), trades, and funding (Nautilus's
`FundingRateUpdate` + `MarkPriceUpdate`, or Binance's `BinanceFuturesMarkPriceUpdate` custom data
in live Binance: `funding.feed`). Each delta batch gives one `BookSnapshot`, one `FeatureSnapshot`
and one decision. In the top-of-book mode (`book.mode`, `scalp_nautilus.top_of_book`) quote ticks
take the deltas' place: each quote is a one-level book batch.

Orders, the latch and the exits around an entry live in `scalp_nautilus.strategy.execution`; the
strategy is its `OrderPort`. A feed watchdog (`exits.stale_feed_s`, on the node's clock) closes a position when the book has
not updated for that long: its stops cannot fire on a book that does not move.

Risk (`scalp_nautilus.strategy.risk`, the config's `risk`): every order sent, fill, round trip,
funding payment and book batch is reported to `RiskLimits`; a breached limit trips the kill switch
(`_tripped`): logged as an error, no entry any more, working orders cancelled, the position closed at
market, and the halt written to the state file at once. A node that starts with a halt in its
state file stays halted and says so. Backtests apply the same limits (nothing is persisted).

Live (`scalp_nautilus.live`): with `state.path` the pipeline's warm state is restored on start and
saved on stop and every `state.save_every_s` (`scalp_nautilus.strategy.warm`). Orders and a
position that Nautilus reconciled at start and assigned to this strategy (`external_order_claims`)
are adopted (`Execution.adopt`).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from nautilus_trader.model.data import DataType
from nautilus_trader.model.data import OrderBookDeltas
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.enums import liquidity_side_to_str
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import ClientOrderId
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Currency
from nautilus_trader.model.objects import Price
from nautilus_trader.model.orders import Order
from nautilus_trader.model.position import Position
from nautilus_trader.trading.strategy import Strategy

from scalp_nautilus import log_bridge
from scalp_nautilus.book import BookSnapshot
from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.config import parse_utc
from scalp_nautilus.data.spans import InvalidSpans
from scalp_nautilus.feature_recorder import FeatureRecorder
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.indicators.funding_feed import funding_input
from scalp_nautilus.strategy import risk
from scalp_nautilus.strategy import warm
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import ENTRY_OUTCOMES
from scalp_nautilus.strategy.decision import EXIT
from scalp_nautilus.strategy.decision import EXIT_OUTCOMES
from scalp_nautilus.strategy.decision import POSITION_OUTCOMES
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.decision import PositionState
from scalp_nautilus.strategy.decision import decide
from scalp_nautilus.strategy.decision import held
from scalp_nautilus.strategy.execution import COUNTS
from scalp_nautilus.strategy.execution import Execution
from scalp_nautilus.strategy.funding import FundingLedger
from scalp_nautilus.strategy.lag import LagGuard
from scalp_nautilus.strategy.records import Markouts
from scalp_nautilus.strategy.records import RoundTrip
from scalp_nautilus.strategy.records import SavedPosition
from scalp_nautilus.strategy.records import StrategyReport
from scalp_nautilus.strategy.records import Timeline
from scalp_nautilus.strategy.records import position_record
from scalp_nautilus.strategy.risk import Halt
from scalp_nautilus.strategy.risk import RiskLimits
from scalp_nautilus.strategy.settings import ScalpStrategyConfig
from scalp_nautilus.strategy.settings import build_builder
from scalp_nautilus.strategy.settings import build_pipeline
from scalp_nautilus.strategy.warmup import warm_kernels
from scalp_nautilus.top_of_book import TOP_OF_BOOK
from scalp_nautilus.units import NS_PER_S

RECENT_DECISIONS = 200  # kept for the live page (`recent`)
# A closed position's exchange stop and take-profit are cancelled this long after the close if the
# venue has not closed them itself (or at the next book batch, whichever comes first): a feed that
# went silent brings no batch.
LEFTOVER_CANCEL_S = 1.0
_MANUAL_FLATTEN = Decision(EXIT, "manual_flatten")


@dataclass(slots=True)
class _Parts:
    """What `on_start` builds once the instrument resolves; every data, order and timer handler runs
    after it (a strategy whose instrument is unknown stops in `on_start`)."""

    instrument: Instrument
    pipeline: FeaturePipeline
    builder: BookSnapshotBuilder
    params: DecisionParams
    execution: Execution
    ledger: FundingLedger
    currency: Currency  # the settlement currency
    mark_precision: int  # prices of a mid or mark: one digit finer than the tick (half a tick off the grid)


class ScalpStrategy(Strategy):
    def __init__(self, config: ScalpStrategyConfig) -> None:
        super().__init__(config)
        self._built: _Parts | None = None
        self._recorder: FeatureRecorder | None = None
        self._spans = InvalidSpans(config.invalid_spans)
        self._stale_feed_ns = 0
        self._clear()

    # What `on_start` built, None before it (or when the instrument is unknown): for readers outside
    # the handlers (reports, the live session, tests).

    @property
    def instrument(self) -> Instrument | None:
        return self._built.instrument if self._built is not None else None

    @property
    def pipeline(self) -> FeaturePipeline | None:
        return self._built.pipeline if self._built is not None else None

    @property
    def execution(self) -> Execution | None:
        return self._built.execution if self._built is not None else None

    @property
    def ledger(self) -> FundingLedger | None:
        return self._built.ledger if self._built is not None else None

    @property
    def _parts(self) -> _Parts:
        if self._built is None:
            raise RuntimeError(f"{self.id}: a handler ran before on_start resolved {self.config.instrument_id}")
        return self._built

    def _clear(self) -> None:
        """The run's records, position state and risk limits (the indicators are rebuilt by `on_start`,
        which also restores a persisted halt)."""
        self.risk = RiskLimits(self.config.risk)
        self.outcomes: Counter = Counter()
        self.round_trips: list[RoundTrip] = []
        self.timeline = Timeline(round(self.config.equity_sample_s * NS_PER_S))
        self.batches = 0
        self.markouts = Markouts()
        self._funding_times: set[int] = set()
        self._row: FeatureSnapshot | None = None
        self.warm_restored = False
        self._restored_ns = 0  # exchange time the restored state ended at, until the feed confirms it
        # node clock when the latest book batch was decided (the feed watchdog): a node behind its
        # feed still decides batches, and lateness is the lag guard's, not a silence
        self._last_book_ns = 0
        self._stale = False  # the watchdog found the feed silent; cleared by the next batch
        self._watchdog_due = False  # its timer starts at the next book batch
        self._watch_from_ns = 0  # the node's clock at `on_start`: the timer's phase
        self.stale_feeds = 0  # silences found by the watchdog
        lag = self.config.lag
        self.lag = LagGuard(lag.max_ms, lag.resume_ms, lag.window)
        self._blocks: dict[str, str] = {}  # entry block (ENTRY_BLOCKS) -> why, in the order set
        self._flattening = False  # the operator asked for a flat position (`flatten`)
        self._leave_protected = False  # stop without closing the position or cancelling its stop
        self._leftover_alerts = 0  # names of the leftovers' time alerts
        self.recent: deque[tuple[int, Decision]] = deque(maxlen=RECENT_DECISIONS)  # (node clock, decision)

    # ------------------------------------------------------------------ lifecycle

    def on_start(self) -> None:
        log_bridge.attach()  # the indicators' and models' logging into Nautilus's (detached on stop)
        config = self.config
        iid = config.instrument_id
        instrument = self.cache.instrument(iid)
        if instrument is None:
            self.log.error(f"Could not find instrument for {iid}")
            self.stop()
            return
        pipeline = build_pipeline(config)
        builder = build_builder(config, instrument)
        warm_kernels(builder)  # numba's cache load here, not on the first book batch
        params = DecisionParams(config, instrument)
        self._built = p = _Parts(
            instrument,
            pipeline,
            builder,
            params,
            Execution(config, instrument, params, self, pipeline.funding.schedule),
            FundingLedger(instrument, round(config.funding.settle_grace_s * NS_PER_S)),
            instrument.get_settlement_currency(),
            instrument.price_precision + 1,
        )
        if config.state.path:
            self.risk.halt = risk.read_halt(config.state.path)
        if self.risk.halted:
            p.execution.halt_trading()
            self.log.error(
                f"HALTED by the kill switch ({self.risk.halt}): no entries, an open position is closed; "
                "clear it with `scalp-nautilus live --config ... --clear-halt` after checking the account"
            )
        if config.state.path:
            self._restore_state()
        p.execution.adopt()
        if config.record_features:
            self._recorder = FeatureRecorder(
                config.record_features, invalid_spans=self._spans.spans, unavailable=pipeline.unavailable(builder.levels)
            )
        if config.book.mode == TOP_OF_BOOK:
            self.subscribe_quote_ticks(iid)
        else:
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
            self._stale_feed_ns = round(config.exits.stale_feed_s * NS_PER_S)
            self._last_book_ns = self._watch_from_ns = self.clock.timestamp_ns()
            self._watchdog_due = True
            if p.execution.state.side:  # an adopted position is watched from the start
                self._start_watchdog()
        if config.orders.flatten_at:
            at = parse_utc(config.orders.flatten_at)
            if at.value > self.clock.timestamp_ns():
                self.clock.set_time_alert(f"flatten-{iid}", at, self._on_flatten)
            else:
                p.execution.close_trading()

    def on_stop(self) -> None:
        log_bridge.detach()
        if self._built is None:
            return
        p = self._built
        iid = p.instrument.id
        if self._leave_protected and self.position() is not None:
            self.log.warning(f"{iid}: stopping with the position open, protected by its exchange stop (a lost connection)")
        else:
            self.cancel_all_orders(iid)
            self.close_all_positions(iid)
        self._book_funding(final=True)
        if self.config.state.path:
            self._save_state()
        if self._recorder is not None:
            self._recorder.close()
        self.log.info(f"decisions {dict(self.outcomes)}; funding booked {p.ledger.total:.8f} {p.currency}")

    def on_reset(self) -> None:
        self._clear()

    # ------------------------------------------------------------------ live: warm state, adoption

    def _restore_state(self) -> None:
        s, p = self.config.state, self._parts
        assert s.path is not None
        now = self.clock.timestamp_ns()
        ages = round(s.max_age_s * NS_PER_S), round(s.funding_max_age_s * NS_PER_S)
        reason = warm.restore(s.path, p.pipeline, str(p.instrument.id), now, *ages)
        self.warm_restored = reason is None
        # the fast state restored (all or some indicators): the feed must continue it
        self._restored_ns = p.pipeline.snapshot().ts_event
        if reason is None:
            self.log.info(f"warm state restored from {s.path}: the indicators continue where they stopped")
        else:
            self.log.warning(f"starting cold ({reason}): no signal until the indicators are warm")
        self.clock.set_timer(f"warm-state-{p.instrument.id}", timedelta(seconds=s.save_every_s), callback=self._save_state)

    def _confirm_restored(self, ts_event: int) -> None:
        """The first event after a restore: the feed must continue the saved state, not precede it
        (a replay started over) nor come more than `state.max_age_s` after it."""
        gap = ts_event - self._restored_ns
        self._restored_ns = 0
        if -NS_PER_S <= gap <= round(self.config.state.max_age_s * NS_PER_S):  # streams interleave within a second
            return
        self._parts.pipeline.reset()
        self.warm_restored = False
        self.log.warning(
            f"warm state discarded: the feed starts {gap / NS_PER_S:+.1f} s after it ends; "
            "no signal until the indicators are warm"
        )

    def _save_state(self, event=None) -> None:
        path, p = self.config.state.path, self._parts
        assert path is not None
        extra = {**risk.halt_record(self.risk.halt), **position_record(self.saved_position())}
        try:
            warm.save(path, p.pipeline, str(p.instrument.id), self.clock.timestamp_ns(), extra)
        except OSError as exc:
            self.log.error(f"warm state not saved to {path}: {exc}")

    def saved_position(self) -> SavedPosition | None:
        """The open position for the state file (`live.offline` accounts for it after a crash)."""
        if self._built is None:
            return None
        position = self.position()
        if position is None:
            return None
        currency = self._built.currency
        fees = sum(m.as_double() for m in position.commissions() if m.currency == currency)
        ts_event = self._row.ts_event if self._row is not None else 0
        return SavedPosition(position.signed_qty, position.avg_px_open, fees, ts_event)

    # ------------------------------------------------------------------ data

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        book = self.cache.order_book(deltas.instrument_id)
        self._on_book(self._parts.builder.from_book(book, deltas.ts_event, deltas.ts_init, deltas.sequence))

    def on_quote_tick(self, tick: QuoteTick) -> None:
        # the top-of-book mode's book batch (subscribed only in that mode)
        self._on_book(
            self._parts.builder.from_quote(
                float(tick.bid_price),
                float(tick.bid_size),
                float(tick.ask_price),
                float(tick.ask_size),
                tick.ts_event,
                tick.ts_init,
            )
        )

    def _on_book(self, snapshot: BookSnapshot) -> None:
        p = self._parts
        now = self.clock.timestamp_ns()
        changed = self.lag.observe(now, snapshot.ts_event, snapshot.ts_init)
        if changed is not None:
            self._on_lag(changed)
        if self._restored_ns:
            self._confirm_restored(snapshot.ts_event)
        self._last_book_ns = now
        if self._watchdog_due:
            self._start_watchdog()
        if self._stale:
            self._stale = False
            self.log.warning(f"{p.instrument.id}: book updates resumed")
        row = p.pipeline.on_book(snapshot)
        self.batches += 1
        if self._spans and self._spans.inside(row.ts_event):
            # The data's book cannot be trusted here (an outage in the capture): no decision, no row.
            self.outcomes["invalid_span"] += 1
            return
        self._row = row
        if self._recorder is not None:
            self._recorder.record(row)
        if row.ts_event >= self.timeline.next_ns and row.book_valid:
            self._sample(row)
        if row.book_valid:
            self.markouts.on_mid(row.ts_event, row.mid)
        unlatched = p.execution.unlatched()  # a resting maker entry: does its signal still hold?
        signal = None if unlatched is None or self._blocks else self._decide(row, unlatched)  # blocked: withdrawn
        p.execution.on_batch(row, snapshot.best_bid, snapshot.best_ask, signal)
        if row.book_valid:
            self._check_risk(row)
        decision = self._decide(row)
        if self._flattening and decision.action != EXIT and p.execution.side and not p.execution.latch.held:
            decision = _MANUAL_FLATTEN
        self._act(decision)

    def _start_watchdog(self) -> None:
        """The feed watchdog's timer, ticking when it would have from `on_start`. It starts there
        only for an adopted position, otherwise at the first book batch: before that batch a
        silence matters to nothing (no position opens without one), and in a backtest the clock
        runs through the funding history read before the book, where a timer from the start
        fired every second for nothing (1.15 M calls for two weeks, more CPU than the rest of
        the strategy on an hour of data)."""
        self._watchdog_due = False
        every = timedelta(seconds=min(1.0, self.config.exits.stale_feed_s / 2)) // timedelta(microseconds=1) * 1_000
        phase = self._watch_from_ns + (self.clock.timestamp_ns() - self._watch_from_ns) // every * every
        self.clock.set_timer_ns(f"feed-watchdog-{self.config.instrument_id}", every, phase, 0, self._watch_feed)

    def _watch_feed(self, event) -> None:
        """The feed watchdog (`exits.stale_feed_s`): a position is not held on a silent book."""
        p = self._parts
        silent_ns = self.clock.timestamp_ns() - self._last_book_ns
        if self._spans and self._spans.inside(self.clock.timestamp_ns()):
            return  # the data's own outage: no decision inside it
        state = p.execution.state
        if silent_ns < self._stale_feed_ns or not (self.batches or state.side):
            return  # before the first batch only an adopted position makes a silence matter
        if not self._stale:
            self._stale = True
            self.stale_feeds += 1
            self.log.warning(
                f"{p.instrument.id}: no book update for {silent_ns / NS_PER_S:.1f} s: feed stale"
                + (", closing the position" if state.side else "")
            )
        p.execution.on_stale_feed()
        if state.side and not state.order_pending:
            self._act(Decision(EXIT, "stale_feed"))

    def on_trade_tick(self, tick: TradeTick) -> None:
        if self._restored_ns:
            self._confirm_restored(tick.ts_event)
        self._parts.pipeline.on_trade_tick(tick)

    def on_funding_rate(self, update) -> None:
        self._on_funding(update)

    def on_mark_price(self, update) -> None:
        self._on_funding(update)

    def on_data(self, data) -> None:
        # The one custom data subscribed: Binance's mark-price update (`funding.feed: binance_mark_price`).
        self._on_funding(data)

    # ------------------------------------------------------------------ decisions and orders

    def _decide(self, row: FeatureSnapshot, state: PositionState | None = None) -> Decision:
        """The decision for the execution's state, or for `state` (a resting maker entry's review,
        `Execution.unlatched`: not acted on, not counted)."""
        p = self._parts
        return decide(row, p.execution.state if state is None else state, p.params)

    def _act(self, decision: Decision) -> None:
        if decision.action == ENTER and self._blocks:
            decision = held(next(iter(self._blocks)))
        self.outcomes[decision.outcome] += 1
        self.recent.append((self.clock.timestamp_ns(), decision))
        self._parts.execution.act(decision)

    # ------------------------------------------------------------------ live: entry blocks and the operator

    def _on_lag(self, engaged: bool) -> None:
        lag = self.lag
        if engaged:
            self.block_entries("lag", f"book batch decided {lag.last_ns / 1e6:.0f} ms late (limit {lag.max_ns / 1e6:g} ms)")
        else:
            self.unblock_entries("lag")

    def block_entries(self, block: str, why: str) -> None:
        """Hold every entry while `block` (one of `ENTRY_BLOCKS`) is set; exits go on."""
        if block not in self._blocks:
            self.log.warning(f"entries stopped ({block}): {why}")
        self._blocks[block] = why

    def unblock_entries(self, block: str) -> None:
        if self._blocks.pop(block, None) is not None:
            still = f"; still held by {', '.join(self._blocks)}" if self._blocks else ""
            self.log.warning(f"entries no longer held by {block}{still}")

    @property
    def entry_blocks(self) -> dict[str, str]:
        return dict(self._blocks)

    def flatten(self, who: str) -> None:
        """The operator's flatten: entries paused, the position closed at market now (or once the
        order in flight is done), the exchange stop cancelled once flat."""
        self.block_entries("paused", f"flatten by {who}")
        execution = self.execution
        if execution is None or not execution.side:
            return
        self._flattening = True
        if not execution.latch.held:
            self._act(_MANUAL_FLATTEN)

    def halt(self, who: str) -> None:
        """The operator's halt: the kill switch, as a breached limit trips it (persisted)."""
        self._tripped(self.risk.trip("manual", f"halted by {who}", self.clock.timestamp_ns()))

    def clear_halt(self, who: str) -> None:
        """The operator clears the kill switch's halt (as `--clear-halt` does at start): the state
        file forgets it and entries resume, unless `orders.flatten_at` has passed."""
        halt = self.risk.clear()
        if halt is None:
            return
        self.log.warning(f"halt cleared by {who} (was {halt}): entries resume")
        at = self.config.orders.flatten_at
        past = at is not None and parse_utc(at).value <= self.clock.timestamp_ns()
        self._parts.execution.open_trading()
        if past:
            self._parts.execution.close_trading()
        if self.config.state.path:
            self._save_state()

    def leave_protected(self) -> None:
        """Stop (next) without closing the position or cancelling its exchange stop: the node lost
        its connection, and a cancel that reached the venue without the close would unprotect it."""
        self._leave_protected = True

    def on_order_event(self, event) -> None:
        p = self._parts
        if isinstance(event, OrderFilled):
            self.markouts.add(
                event.ts_event,
                event.client_order_id.value,
                _tag(self.cache.order(event.client_order_id)),
                1 if event.order_side == OrderSide.BUY else -1,
                event.last_qty.as_double(),
                event.last_px.as_double(),
                liquidity_side_to_str(event.liquidity_side),
                self._mid(),
            )
            if event.strategy_id == self.id and event.commission.currency == p.currency:
                self._tripped(self.risk.on_fee(event.ts_event, event.commission.as_double()))
        p.execution.on_order_event(event)

    def on_position_opened(self, event) -> None:
        if event.strategy_id == self.id:
            self._parts.execution.on_position(event)

    def on_position_changed(self, event) -> None:
        if event.strategy_id == self.id:
            self._parts.execution.on_position(event)

    def on_position_closed(self, event) -> None:
        if event.strategy_id != self.id:
            return
        p = self._parts
        position = self.cache.position(event.position_id)
        commissions = sum(m.as_double() for m in position.commissions() if m.currency == p.currency) if position else 0.0
        trip = p.execution.on_position_closed(event, commissions)
        if position is not None:
            carried = sum(
                e.commission.as_double()
                for e in position.events
                if isinstance(e, OrderFilled) and e.reconciliation and e.commission.currency == p.currency
            )
            trip = dataclasses.replace(trip, carried_fees=carried)
        self.round_trips.append(trip)
        self._flattening = False
        self._leftover_alerts += 1
        at = pd.Timestamp(self.clock.timestamp_ns() + round(LEFTOVER_CANCEL_S * NS_PER_S), tz="UTC")
        self.clock.set_time_alert(f"leftovers-{p.instrument.id}-{self._leftover_alerts}", at, self._cancel_leftovers)
        self._tripped(self.risk.on_round_trip(event.ts_closed, trip.realized_pnl + commissions, commissions))

    def _cancel_leftovers(self, event) -> None:
        self._parts.execution.cancel_leftovers()

    def _on_flatten(self, event) -> None:
        execution = self._parts.execution
        execution.close_trading()
        if self._spans and self._spans.inside(self.clock.timestamp_ns()):
            return  # the exit waits for the first batch after the data's outage
        if self._row is not None and execution.side:  # exit now: the data may end before the next batch
            self._act(self._decide(self._row))

    # ------------------------------------------------------------------ the execution's OrderPort

    def submit(self, order: Order, position_id: PositionId | None = None) -> None:
        self.submit_order(order, position_id=position_id)
        self._tripped(self.risk.on_order(self.clock.timestamp_ns()))

    def cancel(self, order: Order) -> None:
        self.cancel_order(order)

    def order(self, client_order_id: ClientOrderId) -> Order | None:
        return self.cache.order(client_order_id)

    def open_orders(self) -> list[Order]:
        return self.cache.orders_open(instrument_id=self._parts.instrument.id, strategy_id=self.id)

    def position(self) -> Position | None:
        positions = self.cache.positions_open(instrument_id=self._parts.instrument.id, strategy_id=self.id)
        return positions[0] if positions else None

    def warn(self, message: str) -> None:
        self.log.warning(message)

    def error(self, message: str) -> None:
        self.log.error(message)

    # ------------------------------------------------------------------ risk limits and the kill switch

    def _check_risk(self, row: FeatureSnapshot) -> None:
        p = self._parts
        position = self.position() if p.execution.side else None
        unrealized = notional = 0.0
        if position is not None:
            unrealized = position.unrealized_pnl(Price(row.mid, p.mark_precision)).as_double()
            notional = position.quantity.as_double() * row.mid
        self._tripped(self.risk.check(row.ts_event, unrealized, notional))

    def _tripped(self, halt: Halt | None) -> None:
        """The kill switch, once per halt: no entries, working orders cancelled, the position closed
        (now, or by the decision once the order in flight is done), the halt saved."""
        if halt is None:
            return
        self.log.error(
            f"KILL SWITCH: {halt}: cancelling orders, closing the position, no entries until the halt "
            "is cleared (`scalp-nautilus live --config ... --clear-halt`)"
        )
        execution = self._parts.execution
        execution.halt_trading()
        execution.cancel_working()
        if execution.state.side and not execution.state.order_pending:
            self._act(Decision(EXIT, "kill_switch"))
        if self.config.state.path:
            self._save_state()

    def _signed_position(self) -> float:
        positions = self.cache.positions_open(instrument_id=self._parts.instrument.id, strategy_id=self.id)
        return sum(p.signed_qty for p in positions)

    # ------------------------------------------------------------------ funding

    def _on_funding(self, obj) -> None:
        """Funding and mark prices, from whichever object they came in (`funding_input`): the
        pipeline's funding-arb detector reads the rate through its settlement schedule, and the
        ledger books from what the schedule made of it (one schedule: `pipeline.funding.schedule`)."""
        p = self._parts
        x = funding_input(obj)
        ledger = p.ledger
        if x.mark is not None:
            ledger.on_mark(x.mark, x.ts_event)
        if x.rate is None:
            return
        settlement = ledger.on_rate(p.pipeline.on_funding(obj))
        if settlement is not None and settlement not in self._funding_times:
            self._funding_times.add(settlement)
            if settlement > self.clock.timestamp_ns():
                self.clock.set_time_alert(
                    f"funding-{p.instrument.id}-{settlement}", pd.Timestamp(settlement, tz="UTC"), self._on_settlement
                )
            else:  # a settled record arriving at its time, or a settlement before we started
                ledger.record(settlement, self._signed_position(), self._mid())
        self._book_funding()

    def _on_settlement(self, event) -> None:
        self._parts.ledger.record(event.ts_event, self._signed_position(), self._mid())
        self._book_funding()

    def _book_funding(self, final: bool = False) -> None:
        for payment in self._parts.ledger.book(self.clock.timestamp_ns(), final_only=not final):
            self._tripped(self.risk.on_funding(payment.ts_ns, payment.amount))
            self.log.info(
                f"funding {pd.Timestamp(payment.ts_ns, tz='UTC')}: position {payment.position} x mark {payment.mark} "
                f"x rate {payment.rate} -> {payment.amount:+.8f} {payment.currency}"
            )

    def _mid(self) -> float:
        return self._row.mid if self._row is not None else 0.0

    # ------------------------------------------------------------------ reports

    def _sample(self, row: FeatureSnapshot) -> None:
        p = self._parts
        account = self.portfolio.account(p.instrument.id.venue)
        equity = account.balance_total(p.currency).as_double() if account is not None else math.nan
        position = self.position() if p.execution.side else None
        signed = 0.0
        if position is not None:
            signed = position.signed_qty
            equity += position.unrealized_pnl(Price(row.mid, p.mark_precision)).as_double()
        equity += p.ledger.total
        self.timeline.add(row.ts_event, row.mid, equity, signed, row.vpin, row.vpin_regime, row.hurst, row.regime_multiplier)

    def report(self) -> StrategyReport:
        order = ENTRY_OUTCOMES + EXIT_OUTCOMES + POSITION_OUTCOMES
        p = self._built
        return StrategyReport(
            instrument_id=str(self.config.instrument_id),
            currency=p.currency.code if p is not None else "",
            outcomes={name: self.outcomes.get(name, 0) for name in order},
            round_trips=list(self.round_trips),
            funding=list(p.ledger.payments) if p is not None else [],
            timeline=self.timeline.frame(),
            batches=self.batches,
            skips={**p.builder.skips.counts, **p.pipeline.skip_counts()} if p is not None else {},
            bounds=self._bounds(),
            execution={k: p.execution.counts.get(k, 0) for k in COUNTS} if p is not None else {},
            round_trip_fee_bps=p.params.round_trip_fee_bps if p is not None else math.nan,
            entry_mode=self.config.orders.entry,
            take_profit_mode=self.config.exits.take_profit_order,
            fills=self.markouts.frame(),
            book_mode=self.config.book.mode,
            unavailable=p.pipeline.unavailable(p.builder.levels) if p is not None else (),
        )

    def _bounds(self) -> dict[str, float]:
        """The fixed bounds the features plot draws; VPIN's only in fixed mode (in quantile mode
        they move with the rolling quantiles, and a fixed line would misstate them)."""
        v, s = self.config.vpin, self.config.signals
        fixed = v.threshold_mode == "fixed"
        vpin = dict(zip(("vpin_low", "vpin_medium", "vpin_high"), v.thresholds, strict=True)) if fixed else {}
        return {
            **vpin,
            "hurst_mr": s.hurst_mean_reversion_below,
            "hurst_dead_low": s.dead_zone_low,
            "hurst_dead_high": s.dead_zone_high,
            "hurst_momentum": s.hurst_momentum_above,
        }


def _tag(order) -> str:
    """The order's purpose tag (``entry:<signal set>`` / ``exit:<reason>``; "" for orders without one)."""
    return order.tags[0] if order is not None and order.tags else ""
