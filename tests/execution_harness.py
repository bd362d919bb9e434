"""`Execution` without an engine: a fake `OrderPort` that keeps real Nautilus orders, applies the
events a test sends it, and keeps a one-position book of the fills (netting, average price)."""

from __future__ import annotations

from types import SimpleNamespace

import msgspec

from nautilus_trader.common.component import TestClock
from nautilus_trader.common.factories import OrderFactory
from nautilus_trader.model.enums import LiquiditySide
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.identifiers import PositionId
from nautilus_trader.model.identifiers import StrategyId
from nautilus_trader.model.identifiers import TraderId
from nautilus_trader.model.objects import Price
from nautilus_trader.model.objects import Quantity
from nautilus_trader.test_kit.stubs.events import TestEventStubs

from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.features import FeatureSnapshot
from scalp_nautilus.strategy import ScalpStrategyConfig
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import Decision
from scalp_nautilus.strategy.decision import DecisionParams
from scalp_nautilus.strategy.execution import Execution
from tests.test_decision import BASE

S = 1_000_000_000
INSTRUMENT = SIM_SPEC.to_instrument()  # tick 0.1, lot 0.001

ROW = {**BASE, "spread_bps": 0.025}  # test_decision's row, a tighter spread


def row(**changes) -> FeatureSnapshot:
    return FeatureSnapshot(**{**ROW, **changes})


def config(**sections) -> ScalpStrategyConfig:
    """The strategy config for `Execution` tests; no protective stop at the exchange unless a test
    sets `exits.exchange_stop_k` (tests/test_exchange_stop.py), so order sequences stay the test's own."""
    raw = {
        "instrument_id": str(INSTRUMENT.id),
        "vpin": {"volume_per_hour": 1000.0},
        "orders": {"base_size": 0.05},
        "exits": {"exchange_stop_k": 0.0},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return ScalpStrategyConfig.parse(msgspec.json.encode(raw))


def entry(
    direction: int = 1, size: float = 0.05, stop: float = 20.0, take_profit: float = 10.0, kind: str = "momentum"
) -> Decision:
    return Decision(ENTER, "taken", direction, size, kind, 1.0, stop, take_profit, 0)


class FakePort:
    """The strategy's side of `OrderPort`, with the venue played by the test."""

    def __init__(self) -> None:
        self.order_factory = OrderFactory(TraderId("TESTER-001"), StrategyId("ScalpStrategy-000"), TestClock())
        self.orders: dict = {}
        self.submitted: list = []  # (order, position_id) in submission order
        self.cancels: list = []  # cancel requests, in order
        self.signed_qty = 0.0
        self.avg_px = 0.0
        self.warnings: list[str] = []
        self.errors: list[str] = []

    # OrderPort
    def submit(self, order, position_id=None) -> None:
        self.orders[order.client_order_id] = order
        self.submitted.append((order, position_id))
        order.apply(TestEventStubs.order_submitted(order))

    def cancel(self, order) -> None:
        self.cancels.append(order.client_order_id)

    def order(self, client_order_id):
        return self.orders.get(client_order_id)

    def open_orders(self) -> list:
        return [o for o in self.orders.values() if o.is_open]

    def position(self):
        if abs(self.signed_qty) < 1e-12:
            return None
        return SimpleNamespace(
            id=PositionId("P-1"),
            instrument_id=INSTRUMENT.id,
            is_long=self.signed_qty > 0,
            signed_qty=self.signed_qty,
            quantity=Quantity(abs(self.signed_qty), INSTRUMENT.size_precision),
            avg_px_open=self.avg_px,
        )

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def error(self, message: str) -> None:
        self.errors.append(message)

    # the venue's side
    def live(self) -> list:
        """Orders the venue holds: accepted (or partly filled) and not cancelled by the venue yet."""
        return [o for o in self.orders.values() if o.is_open and o.client_order_id not in self.cancels]

    def accept(self, order):
        event = TestEventStubs.order_accepted(order)
        order.apply(event)
        return event

    def reject(self, order):
        event = TestEventStubs.order_rejected(order)
        order.apply(event)
        return event

    def canceled(self, order):
        event = TestEventStubs.order_canceled(order)
        order.apply(event)
        return event

    def fill(self, order, qty: float, px: float, maker: bool = False):
        event = TestEventStubs.order_filled(
            order,
            INSTRUMENT,
            last_qty=Quantity(qty, INSTRUMENT.size_precision),
            last_px=Price(px, INSTRUMENT.price_precision),
            liquidity_side=LiquiditySide.MAKER if maker else LiquiditySide.TAKER,
        )
        order.apply(event)
        signed = qty if order.side == OrderSide.BUY else -qty
        if self.signed_qty == 0.0 or (self.signed_qty > 0) == (signed > 0):
            self.avg_px = (self.avg_px * abs(self.signed_qty) + px * qty) / (abs(self.signed_qty) + qty)
        self.signed_qty = round(self.signed_qty + signed, 9)
        return event

    def position_event(self):
        return SimpleNamespace(signed_qty=self.signed_qty, avg_px_open=self.avg_px)


def execution(**sections) -> tuple[Execution, FakePort]:
    c = config(**sections)
    port = FakePort()
    return Execution(c, INSTRUMENT, DecisionParams(c, INSTRUMENT), port), port
