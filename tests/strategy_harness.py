"""Running `ScalpStrategy` instances in a real Nautilus `BacktestEngine` fed lists directly.

The engine is configured as the backtest runner configures its node (L2 matching, deltas buffered
to each F_LAST, latency, fee model), but without a catalog, so a test runs in about a second.
`ForcedEntry` opens one position at a chosen time through the strategy's own order path, with an
exit plan given by the test; every other decision (and every exit) stays the real one.
"""

from __future__ import annotations

import functools
from decimal import Decimal

import msgspec

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.engine import BacktestEngineConfig
from nautilus_trader.backtest.models import FillModel
from nautilus_trader.backtest.models import LatencyModel
from nautilus_trader.common.config import LoggingConfig
from nautilus_trader.config import DataEngineConfig
from nautilus_trader.model.enums import AccountType
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import OmsType
from nautilus_trader.model.identifiers import ClientId
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money

from scalp_nautilus.backtest.fees import RateFeeModel
from scalp_nautilus.config import merge
from scalp_nautilus.data.simulator import MarketSimulator
from scalp_nautilus.data.simulator import SimulationParams
from scalp_nautilus.strategy import ScalpStrategy
from scalp_nautilus.strategy import ScalpStrategyConfig
from scalp_nautilus.strategy.decision import ENTER
from scalp_nautilus.strategy.decision import Decision

S = 1_000_000_000

# Warms up within two minutes of simulated data (VPIN over 1 minute of the simulator's volume,
# the shortest Hurst window), so an 8-minute simulation trades.
FAST = {
    "vpin": {"volume_per_hour": 1060.0, "window_minutes": 1.0},
    "hurst": {"window": 64},
    "orders": {"base_size": 0.05},
}


def scalp_config(instrument_id: str, tag: str = "000", **fields) -> ScalpStrategyConfig:
    """FAST with `fields` merged over it (sections as dicts, e.g. vpin={"window_minutes": 2})."""
    raw = merge(FAST, fields)
    return ScalpStrategyConfig.parse(
        msgspec.json.encode({**raw, "instrument_id": instrument_id, "order_id_tag": tag}),
    )


@functools.lru_cache(maxsize=4)
def simulated(minutes: float, seed: int = 7) -> tuple:
    sim = MarketSimulator(SimulationParams(minutes=minutes, seed=seed))
    return sim.instrument, tuple(sim.events())


def run_engine(
    instrument,
    events,
    strategies,
    latency_ms: float = 5.0,
    balance: str = "10000 USDT",
    custom: list = (),
    queue_position: bool = False,
    prob_fill_on_limit: float = 1.0,
) -> BacktestEngine:
    """Run `strategies` over `events` (and `custom` data from the venue's client, as an adapter
    would publish it); the engine is returned un-disposed for its reports."""
    engine = BacktestEngine(
        BacktestEngineConfig(
            logging=LoggingConfig(log_level="ERROR"),
            data_engine=DataEngineConfig(buffer_deltas=True),
        )
    )
    engine.add_venue(
        venue=Venue(instrument.id.venue.value),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        starting_balances=[Money.from_str(balance)],
        base_currency=None,
        default_leverage=Decimal(10),
        book_type=BookType.L2_MBP,
        fill_model=FillModel(prob_fill_on_limit=prob_fill_on_limit, prob_slippage=0.0, random_seed=42),
        latency_model=LatencyModel(base_latency_nanos=round(latency_ms * 1e6)),
        fee_model=RateFeeModel(),
        trade_execution=True,
        liquidity_consumption=True,
        queue_position=queue_position,
    )
    engine.add_instrument(instrument)
    by_type: dict[type, list] = {}
    for event in events:
        by_type.setdefault(type(event), []).append(event)
    for data in by_type.values():  # the engine checks for book data by the type of each list
        engine.add_data(data, sort=False)
    if custom:
        engine.add_data(list(custom), client_id=ClientId(instrument.id.venue.value), sort=False)
    engine.sort_data()
    for strategy in strategies:
        engine.add_strategy(strategy)
    engine.run()
    return engine


class ForcedEntry(ScalpStrategy):
    """Opens one position at the first book batch at or after `at_ns` (any gate notwithstanding),
    with the exit plan `plan`; the real decision runs before and after it."""

    def __init__(self, config: ScalpStrategyConfig, at_ns: int, plan: Decision) -> None:
        super().__init__(config)
        assert plan.action == ENTER
        self.at_ns = at_ns
        self.plan = plan
        self.forced_at: int | None = None

    def _decide(self, row, state=None):
        if state is not None:  # a resting maker entry's review
            if self.execution.plan is self.plan:
                return self.plan  # the forced maker entry still rests: its signal holds
            return super()._decide(row, state)
        if self.forced_at is None and row.ts_event >= self.at_ns and row.book_valid:
            self.forced_at = row.ts_event
            return self.plan
        return super()._decide(row)


def forced_plan(direction: int, size: float, stop_distance: float, take_profit: float = 0.0, time_stop_ns: int = 0) -> Decision:
    return Decision(ENTER, "forced", direction, size, "forced", 1.0, stop_distance, take_profit, time_stop_ns)
