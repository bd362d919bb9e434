"""Tick-to-order latency inside the live node, against the replay venue.

The venue runs in its own process (`scalp-nautilus replay-venue`), so it does not share the node's
interpreter; the node runs here with `configs/live_binance_replay.yaml` pointed at it. Timestamps
are `time.perf_counter_ns()` on the node's event loop thread:

- arrival: a depth message enters the adapter (`SyncedBinanceFuturesDataClient._handle_book_diff_update`,
  before it is decoded);
- delivered: the strategy's `on_order_book_deltas` is called with that batch (Nautilus's parsing,
  data engine queue, cache book update and message bus in between);
- decided: the strategy finished its work on that book batch (features, decision and any order);
- submitted: the strategy hands an order to Nautilus (`submit_order` called) for that batch;
- sent: Nautilus's Binance execution client starts sending that order (`_submit_order`), after
  the risk and execution engines.

Printed: p50 / p90 / p99 / max of arrival -> delivered, delivered -> decided (the strategy's own
work) and arrival -> decided over every book batch, and of arrival -> submitted and arrival -> sent
over every order, per capture replayed.

    PYTHONPATH=. python bench/bench_live.py [--speed 5] [--captures usdm_2023_04 usdm_2024_07 usdm_2024_08]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nautilus_trader.adapters.binance.execution import BinanceCommonExecutionClient

from scalp_nautilus.live.binance import SyncedBinanceFuturesDataClient
from scalp_nautilus.live.node import build_node
from scalp_nautilus.live.settings import credentials
from scalp_nautilus.live.settings import load_live_settings
from tests.support.live import VenueAddress
from tests.support.live import free_port
from tests.support.live import start_venue_process
from tests.support.live import write_live_config
from tests.support.shared_data import CAPTURES
from tests.support.shared_data import shared_data_dir

clock = time.perf_counter_ns
arrival: dict[int, int] = {}  # update id u -> arrival
decided: list[int] = []
delivered: list[int] = []
own: list[int] = []
submitted: list[int] = []
sent: list[int] = []
_current: list[int] = [0]  # arrival of the message being handled
_orders: dict[str, int] = {}  # client order id -> arrival of its batch


def instrument() -> None:
    handle, on_diff = SyncedBinanceFuturesDataClient._handle_book_diff_update, SyncedBinanceFuturesDataClient._on_diff

    def timed_handle(self, raw):
        _current[0] = clock()
        handle(self, raw)

    def timed_diff(self, instrument_id, diff):
        arrival[diff.u] = _current[0]
        on_diff(self, instrument_id, diff)

    SyncedBinanceFuturesDataClient._handle_book_diff_update = timed_handle
    SyncedBinanceFuturesDataClient._on_diff = timed_diff
    send = BinanceCommonExecutionClient._submit_order

    async def timed_send(self, command):
        t0 = _orders.pop(command.order.client_order_id.value, None)
        if t0 is not None:
            sent.append(clock() - t0)
        await send(self, command)

    BinanceCommonExecutionClient._submit_order = timed_send


def hook_strategy(strategy) -> None:
    act, submit, on_book = strategy._act, strategy.submit_order, strategy.on_order_book_deltas
    entered = [0]

    def timed_book(deltas):
        entered[0] = clock()
        t0 = arrival.get(deltas.sequence)
        if t0 is not None:
            delivered.append(entered[0] - t0)
        on_book(deltas)
        entered[0] = 0

    def timed_act(decision):
        act(decision)
        now = clock()
        if entered[0]:  # not the watchdog's or the flatten timer's exits, which come without a batch
            own.append(now - entered[0])
        t0 = arrival.pop(strategy._row.update_id, None)
        if t0 is not None:
            decided.append(now - t0)

    def timed_submit(order, *args, **kwargs):
        t0 = arrival.get(strategy._row.update_id)
        if t0 is not None:
            submitted.append(clock() - t0)
            _orders[order.client_order_id.value] = t0
        submit(order, *args, **kwargs)

    strategy._act = timed_act
    strategy.on_order_book_deltas = timed_book
    strategy.submit_order = timed_submit


def run_capture(name: str, speed: float, tmp: Path) -> None:
    data = shared_data_dir()
    files = [str(data / "binance-futures" / f) for f in CAPTURES[name]]
    port = free_port()
    venue = start_venue_process(files, speed, port)
    try:
        run_dir = tmp / name  # its own warm-state file: a capture never continues another's state
        run_dir.mkdir()
        settings = load_live_settings(write_live_config(run_dir, VenueAddress(port)))
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        node = build_node(settings, credentials(settings, mainnet=False), mainnet=False, loop=loop)
        strategy = node.trader.strategies()[0]
        hook_strategy(strategy)
        n0 = (len(decided), len(submitted), len(sent), len(delivered), len(own))

        async def main() -> None:
            task = loop.create_task(node.run_async())
            last, idle = -1, 0.0
            while idle < 5.0 and not task.done():  # the capture ended: nothing new for 5 s
                await asyncio.sleep(0.5)
                idle = idle + 0.5 if strategy.batches == last else 0.0
                last = strategy.batches
            await node.stop_async()
            await task

        loop.run_until_complete(main())
        node.dispose()
    finally:
        venue.terminate()
        venue.wait(10)
    report(
        f"{name} @ {speed:g}x",
        delivered[n0[3] :],
        own[n0[4] :],
        decided[n0[0] :],
        submitted[n0[1] :],
        sent[n0[2] :],
        strategy.batches,
    )


def pct(xs: list[int]) -> str:
    if not xs:
        return "no samples"
    us = np.asarray(xs) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return f"n={len(us):>6}  p50 {p50:8.1f} us  p90 {p90:8.1f} us  p99 {p99:8.1f} us  max {us.max():9.1f} us"


def report(title: str, dlv, own_, dec, sub, snt, batches: int) -> None:
    print(f"\n{title}: {batches} book batches")
    print(f"  arrival -> delivered (every batch)  {pct(dlv)}")
    print(f"  delivered -> decided (the strategy) {pct(own_)}")
    print(f"  arrival -> decided (every batch)    {pct(dec)}")
    print(f"  arrival -> submit_order (orders)    {pct(sub)}")
    print(f"  arrival -> exec client sends        {pct(snt)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--speed", type=float, default=5.0)
    ap.add_argument("--captures", nargs="+", default=["usdm_2023_04", "usdm_2024_07", "usdm_2024_08"])
    args = ap.parse_args()
    if shared_data_dir() is None:
        sys.exit("real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data")
    instrument()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.captures:
            run_capture(name, args.speed, Path(tmp))
    if len(args.captures) > 1:
        report("all captures", delivered, own, decided, submitted, sent, len(own))


if __name__ == "__main__":
    main()
