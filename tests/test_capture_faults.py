"""Faulty captures: each fault is counted and logged, and the rest of the file still imports.

The faults are made from the real 2024-07-18 capture: its lines are copied into a temporary file
with one fault injected, and the import is compared with the import of the intact lines.
"""

from __future__ import annotations

import gzip
import json
import logging
from decimal import Decimal

import pytest

from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.enums import BookAction
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.enums import RecordFlag

from scalp_nautilus.data.binance_capture import BinanceCaptureImporter

pytestmark = pytest.mark.real_data

N_LINES = 4_000


@pytest.fixture(scope="module")
def lines(capture_paths):
    with gzip.open(capture_paths("usdm_2024_07")[0], "rb") as fh:
        return [next(fh) for _ in range(N_LINES)]


def write(tmp_path, lines, name="capture.gz"):
    path = tmp_path / name
    with gzip.open(path, "wb") as fh:
        fh.writelines(lines)
    return path


def key(obj):
    if isinstance(obj, OrderBookDelta):
        o = obj.order
        return ("D", obj.action, o.side, o.price.as_decimal(), o.size.as_decimal(), obj.flags, obj.sequence, obj.ts_event)
    if isinstance(obj, TradeTick):
        return ("T", obj.trade_id.value, obj.price.as_decimal(), obj.size.as_decimal(), obj.aggressor_side, obj.ts_event)
    return (type(obj).__name__, obj.ts_event)


def run(path):
    imp = BinanceCaptureImporter([path])
    return imp, list(imp.events())


def data_of(line: bytes) -> dict:
    return json.loads(line.split(b" ", 1)[1]).get("data", {})


def index_of(lines, kind, start=100):
    return next(i for i in range(start, len(lines)) if data_of(lines[i]).get("e") == kind)


@pytest.fixture(scope="module")
def baseline(lines, tmp_path_factory):
    imp, events = run(write(tmp_path_factory.mktemp("base"), lines))
    assert imp.stats.sequence_gaps == 0 and imp.stats.malformed_lines == 0
    return imp, events


def test_truncated_last_line(lines, baseline, tmp_path, caplog):
    cut = lines[:-1] + [lines[-1][: len(lines[-1]) // 2]]
    with caplog.at_level(logging.WARNING):
        imp, events = run(write(tmp_path, cut))
    assert imp.stats.malformed_lines == 1
    assert "truncated last line" in caplog.text
    _, intact = run(write(tmp_path, lines[:-1], "intact.gz"))
    assert [key(e) for e in events] == [key(e) for e in intact]


def test_malformed_json_in_a_trade_line(lines, baseline, tmp_path, caplog):
    i = index_of(lines, "trade")
    broken = list(lines)
    broken[i] = lines[i][:40] + b"}{ not json\n"
    with caplog.at_level(logging.WARNING):
        imp, events = run(write(tmp_path, broken))
    assert imp.stats.malformed_lines == 1 and "malformed line" in caplog.text
    lost = str(data_of(lines[i])["t"])
    want = [key(e) for e in baseline[1] if not (isinstance(e, TradeTick) and e.trade_id.value == lost)]
    assert [key(e) for e in events] == want


def test_unknown_stream_is_counted_and_skipped(lines, baseline, tmp_path, caplog):
    extra = b'1721347021100000000 {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","p":"1","q":"1"}}\n'
    mixed = lines[:200] + [extra, extra] + lines[200:]
    with caplog.at_level(logging.WARNING):
        imp, events = run(write(tmp_path, mixed))
    assert imp.stats.unknown_streams["btcusdt@aggTrade"] == 2
    assert caplog.text.count("btcusdt@aggTrade") == 1  # logged once, counted every time
    assert [key(e) for e in events] == [key(e) for e in baseline[1]]


def test_duplicated_messages(lines, baseline, tmp_path):
    d, t = index_of(lines, "depthUpdate"), index_of(lines, "trade")
    doubled = []
    for i, line in enumerate(lines):
        doubled.append(line)
        if i in (d, t):
            doubled.append(line)
    imp, events = run(write(tmp_path, doubled))
    assert imp.stats.depth_duplicates == 1 and imp.stats.trade_duplicates == 1
    assert imp.stats.sequence_gaps == 0
    assert [key(e) for e in events] == [key(e) for e in baseline[1]]


def test_receive_times_going_backwards(lines, baseline, tmp_path):
    i = index_of(lines, "trade", start=1000)
    t_prev = int(lines[i - 1].split(b" ", 1)[0])
    body = lines[i].split(b" ", 1)[1]
    shuffled = list(lines)
    shuffled[i] = str(t_prev - 50_000_000).encode() + b" " + body  # 50 ms before its predecessor
    imp, events = run(write(tmp_path, shuffled))
    assert imp.stats.receive_time_regressions == 1
    assert all(a.ts_init <= b.ts_init for a, b in zip(events, events[1:]))
    assert all(e.ts_init >= e.ts_event for e in events)
    assert [key(e) for e in events] == [key(e) for e in baseline[1]]


def test_truncated_gzip_stream(lines, tmp_path, caplog):
    raw = write(tmp_path, lines).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(raw[: len(raw) * 2 // 3])
    with caplog.at_level(logging.WARNING):
        imp, events = run(cut)
    assert imp.stats.truncated_files == 1 and "stream ends early" in caplog.text
    assert imp.stats.lines > N_LINES // 3 and len(events) > 0


def test_sequence_gap_invalidates_book_until_next_snapshot(lines, baseline, tmp_path, caplog):
    """Drop one diff: the importer must clear the book, apply nothing from the broken chain, and
    re-sync from the next snapshot; here a snapshot taken from the exchange's own book later on."""
    depth = [i for i, line in enumerate(lines) if data_of(line).get("e") == "depthUpdate"]
    gap_line, resync_line = depth[200], depth[450]
    # the exact book after diff `resync_line` (from the intact import) as a REST snapshot, logged
    # just before that diff, as the recorder would when fetching a new snapshot
    target_u = data_of(lines[resync_line])["u"]
    book = OrderBook(baseline[0].instrument.id, BookType.L2_MBP)
    for e in baseline[1]:
        if isinstance(e, OrderBookDelta):
            book.apply_delta(e)
            if e.flags & RecordFlag.F_LAST and e.sequence == target_u:
                break
    snap = {
        "lastUpdateId": target_u,
        "E": data_of(lines[resync_line])["E"],
        "T": data_of(lines[resync_line])["T"],
        "bids": [[str(lv.price), str(lv.size())] for lv in book.bids()],
        "asks": [[str(lv.price), str(lv.size())] for lv in book.asks()],
    }
    recv = lines[resync_line].split(b" ", 1)[0]
    faulty = lines[:gap_line] + lines[gap_line + 1 : resync_line]
    faulty += [recv + b" " + json.dumps(snap).encode() + b"\n"] + lines[resync_line:]
    with caplog.at_level(logging.WARNING):
        imp, events = run(write(tmp_path, faulty))
    assert imp.stats.sequence_gaps == 1 and "sequence gap" in caplog.text
    assert imp.stats.snapshots_applied == 2
    assert imp.stats.depth_skipped_unsynced == 0  # the buffered diffs were dropped or applied on re-sync
    deltas = [e for e in events if isinstance(e, OrderBookDelta)]
    gap_u = data_of(lines[depth[201]])["u"]  # the diff that reveals the gap
    clear_at = next(i for i, d in enumerate(deltas) if d.action == BookAction.CLEAR and d.sequence == gap_u)
    resync_at = next(i for i, d in enumerate(deltas) if d.action == BookAction.CLEAR and d.sequence == target_u)
    # nothing between the gap's CLEAR and the re-sync snapshot: the broken chain is never merged
    assert resync_at == clear_at + 1
    # after the re-sync the book again equals the exchange's bookTicker
    ticker = {d["u"]: tuple(Decimal(d[k]) for k in "bBaA") for d in map(data_of, lines) if d.get("e") == "bookTicker"}
    book = OrderBook(imp.instrument.id, BookType.L2_MBP)
    compared = agreed = 0
    for i, d in enumerate(deltas):
        book.apply_delta(d)
        if i > resync_at and d.flags & RecordFlag.F_LAST and d.sequence in ticker:
            compared += 1
            agreed += (
                book.best_bid_price().as_decimal(),
                book.best_bid_size().as_decimal(),
                book.best_ask_price().as_decimal(),
                book.best_ask_size().as_decimal(),
            ) == ticker[d.sequence]
    assert compared > 20 and agreed == compared


def test_capture_without_snapshot_imports_trades_and_counts_diffs(capture_paths, caplog):
    # the second file of a pair alone: diffs cannot be applied without the first file's snapshot
    with caplog.at_level(logging.WARNING):
        imp, events = run(capture_paths("usdm_2024_07")[1])
    assert not any(isinstance(e, OrderBookDelta) for e in events)
    assert imp.stats.depth_skipped_unsynced == imp.stats.depth_messages > 0
    assert sum(isinstance(e, TradeTick) for e in events) == imp.stats.trades > 0
    assert "out of sync" in caplog.text


def test_unreadable_diff_breaks_the_chain_instead_of_being_skipped(lines, baseline, tmp_path, caplog):
    """A diff with an invalid level cannot be applied; skipping it silently would leave the book
    wrong, so the next diff must be seen as a gap and the book cleared."""
    depth = [i for i, line in enumerate(lines) if data_of(line).get("e") == "depthUpdate"]
    i = depth[100]
    recv, body = lines[i].split(b" ", 1)
    msg = json.loads(body)
    msg["data"]["b"] = msg["data"]["b"] + [["63000.00", "NaN"]]
    faulty = list(lines)
    faulty[i] = recv + b" " + json.dumps(msg).encode() + b"\n"
    with caplog.at_level(logging.WARNING):
        imp, events = run(write(tmp_path, faulty))
    assert imp.stats.malformed_lines == 1 and imp.stats.sequence_gaps == 1
    assert "invalid level" in caplog.text and "sequence gap" in caplog.text
    deltas = [e for e in events if isinstance(e, OrderBookDelta)]
    next_u = data_of(lines[depth[101]])["u"]
    assert deltas[-1].action == BookAction.CLEAR and deltas[-1].sequence == next_u
    # everything before the bad diff is exactly the intact import
    bad_u = msg["data"]["u"]
    before = [key(e) for e in baseline[1] if isinstance(e, OrderBookDelta) and e.sequence < bad_u]
    assert [key(e) for e in deltas[: len(before)]] == before


def _outage(lines: list[bytes], baseline, first_lost: int, resync: int) -> tuple[list[bytes], int, int]:
    """The capture with an outage: every line from depth diff `first_lost` up to depth diff `resync`
    lost (all streams), as after a dropped connection; then, as the recorder does after a
    reconnect, the first diff of the new connection and a fresh REST snapshot of the exchange's book
    at that diff (from the intact import). Returns the lines, the exchange time (ns) of the last
    diff before the outage and that of the snapshot."""
    depth = [i for i, line in enumerate(lines) if data_of(line).get("e") == "depthUpdate"]
    last_good, back = depth[first_lost - 1], depth[resync]
    target = data_of(lines[back])
    book = OrderBook(baseline[0].instrument.id, BookType.L2_MBP)
    for e in baseline[1]:
        if isinstance(e, OrderBookDelta):
            book.apply_delta(e)
            if e.flags & RecordFlag.F_LAST and e.sequence == target["u"]:
                break
    snap = {
        "lastUpdateId": target["u"],
        "E": target["E"],
        "T": target["T"],
        "bids": [[str(lv.price), str(lv.size())] for lv in book.bids()],
        "asks": [[str(lv.price), str(lv.size())] for lv in book.asks()],
    }
    recv = lines[back].split(b" ", 1)[0]
    faulty = lines[: last_good + 1] + [lines[back], recv + b" " + json.dumps(snap).encode() + b"\n"] + lines[back + 1 :]
    return faulty, data_of(lines[last_good])["T"] * 1_000_000, target["T"] * 1_000_000


def test_outage_span_runs_from_the_last_good_diff_to_the_resync(lines, baseline, tmp_path):
    """The book is stale from the last diff applied before an outage until the resync snapshot, in
    exchange time. Before, the span started at the diff that revealed the gap, which here came with
    the snapshot: `book invalid from T to T`, zero length."""
    faulty, last_good_ns, resync_ns = _outage(lines, baseline, 200, 450)
    imp, _ = run(write(tmp_path, faulty))
    assert imp.stats.sequence_gaps == 1 and imp.stats.snapshots_applied == 2
    assert imp.stats.invalid_spans_ns == [(last_good_ns, resync_ns)]
    assert resync_ns - last_good_ns > 1_000_000_000  # 250 diffs lost: seconds of exchange time
    assert f"{(resync_ns - last_good_ns) / 1e9:.3f} s" in imp.stats.summary()


def test_invalid_spans_are_stored_in_the_catalog(lines, baseline, tmp_path, capsys):
    """`data import-binance` stores the capture's invalid spans beside its data; a second import of
    another capture adds its own; `data list` shows them."""
    from scalp_nautilus.cli import main
    from scalp_nautilus.data.catalog import read_invalid_spans

    faulty, last_good_ns, resync_ns = _outage(lines, baseline, 200, 450)
    catalog = tmp_path / "catalog"
    assert main(["data", "import-binance", str(write(tmp_path, faulty)), "--catalog", str(catalog)]) == 0
    iid = baseline[0].instrument.id.value
    assert read_invalid_spans(catalog, iid) == [(last_good_ns, resync_ns)]
    assert main(["data", "list", "--catalog", str(catalog)]) == 0
    assert f"invalid spans  1 ({(resync_ns - last_good_ns) / 1e9:.3f} s)" in capsys.readouterr().out


def test_import_with_no_usable_snapshot_fails(capture_paths, tmp_path, capsys):
    """The second file of a pair alone: 1,350-odd diffs and no snapshot. The import writes the
    trades but exits non-zero naming the missing book (before: it exited 0)."""
    from scalp_nautilus.cli import main

    assert main(["data", "import-binance", str(capture_paths("usdm_2024_07")[1]), "--catalog", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "no usable depth snapshot" in err and "diffs not imported" in err
