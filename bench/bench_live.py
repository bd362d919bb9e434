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

The load test (`--load`): the same node, its lag guard on (`lag.max_ms` 1000, `resume_ms` 200,
strategy.yaml's defaults), against the venue replaying one capture at each pace in turn. Per pace:
the venue's message rate, the strategy's queue (receipt -> decision, its lag guard's clock that
still means something faster than real time) p50 / p99 / worst, whether the node held the pace
(the guard never engaged), and at a pace it could not hold each time the guard stopped entries and
let them resume (wall seconds from the node's start), the entries it held (`lag`) and those taken.

    PYTHONPATH=. python bench/bench_live.py --load 10 30 50 70 100 [--captures usdm_2023_04]
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
from scalp_nautilus.live.venue.capture_feed import load_capture
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


async def run_until_idle(node, strategy, before_stop=None) -> None:
    """Run the node until the capture ended (no new book batch for 5 s), then stop it."""
    task = asyncio.get_running_loop().create_task(node.run_async())
    last, idle = -1, 0.0
    while idle < 5.0 and not task.done():
        await asyncio.sleep(0.5)
        idle = idle + 0.5 if strategy.batches == last else 0.0
        last = strategy.batches
    if before_stop is not None:
        before_stop()
    await node.stop_async()
    await task


def run_load(name: str, speed: float, tmp: Path) -> dict:
    """One pace of the load test (see the module doc)."""
    data = shared_data_dir()
    files = [str(data / "binance-futures" / f) for f in CAPTURES[name]]
    port = free_port()
    venue = start_venue_process(files, speed, port)
    transitions: list[tuple[float, bool, float]] = []  # (wall s from start, engaged, lag ms)
    try:
        run_dir = tmp / f"{name}-{speed:g}"
        run_dir.mkdir()
        config = write_live_config(run_dir, VenueAddress(port), {"lag": {"max_ms": 1000.0, "resume_ms": 200.0}})
        settings = load_live_settings(config)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        node = build_node(settings, credentials(settings, mainnet=False), mainnet=False, loop=loop)
        strategy = node.trader.strategies()[0]
        on_lag = strategy._on_lag
        t0 = time.perf_counter()

        def timed_on_lag(engaged: bool) -> None:
            transitions.append((time.perf_counter() - t0, engaged, strategy.lag.last_ns / 1e6))
            on_lag(engaged)

        strategy._on_lag = timed_on_lag
        orders: list[int] = []  # before the stop's own
        loop.run_until_complete(run_until_idle(node, strategy, lambda: orders.append(len(node.kernel.cache.orders()))))
        node.dispose()
    finally:
        venue.terminate()
        venue.wait(10)
    g = strategy.lag
    events = load_capture(files).events
    span_s = (events[-1].recv_ns - events[0].recv_ns) / 1e9  # the capture's own pace
    return {
        "speed": speed,
        # what the node subscribes to (it never asks for bookTicker)
        "messages_per_s": sum(e.kind in ("depth", "trade", "markPrice") for e in events) / (span_s / speed),
        "batches": strategy.batches,
        "queue_p50_ms": g.queue.session.quantile(0.5),
        "queue_p99_ms": g.queue.session.quantile(0.99),
        "worst_ms": g.worst_ns / 1e6,
        "held": g.engagements == 0,
        "engagements": g.engagements,
        "transitions": transitions,
        "held_entries": strategy.outcomes.get("lag", 0),
        "taken": strategy.outcomes.get("taken", 0),
        "orders": orders[0],
    }


def print_load(rows: list[dict]) -> None:
    print("\nload test: pace held when the lag guard never engaged (queue = receipt -> decision)")
    print(" speed  msg/s  batches  queue p50 ms  p99 ms  worst ms  held  guard  entries held  taken  orders")
    for r in rows:
        print(
            f"{r['speed']:6g} {r['messages_per_s']:6.0f} {r['batches']:8d} {r['queue_p50_ms']:13.1f} {r['queue_p99_ms']:7.1f} "
            f"{r['worst_ms']:9.0f}  {'yes' if r['held'] else 'no ':>4} {r['engagements']:6d} {r['held_entries']:13d} "
            f"{r['taken']:6d} {r['orders']:7d}"
        )
    held = [r["speed"] for r in rows if r["held"]]
    print(f"highest pace held: {max(held):g}x" if held else "no pace held")
    for r in rows:
        if r["transitions"]:
            print(f"at {r['speed']:g}x the guard (wall s from the node's start; the lag of the batch that changed it):")
            for t, engaged, lag in r["transitions"]:
                print(f"  {t:7.2f} s  {'stopped' if engaged else 'resumed'} entries  (lag {lag:.0f} ms)")


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

        loop.run_until_complete(run_until_idle(node, strategy))
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
    ap.add_argument("--load", nargs="+", type=float, metavar="SPEED", help="the load test at these paces (first capture only)")
    args = ap.parse_args()
    if shared_data_dir() is None:
        sys.exit("real exchange data not found: set SCALP_SHARED_DATA or place it in ../shared/data")
    if args.load:
        with tempfile.TemporaryDirectory() as tmp:
            print_load([run_load(args.captures[0], speed, Path(tmp)) for speed in args.load])
        return
    instrument()
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.captures:
            run_capture(name, args.speed, Path(tmp))
    if len(args.captures) > 1:
        report("all captures", delivered, own, decided, submitted, sent, len(own))


if __name__ == "__main__":
    main()
