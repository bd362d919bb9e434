"""The capturer's byte scan (`capture.scan`) against a full JSON parse of every message of the real
captures: the same stream, event time and update ids, or None where the message has no such field."""

from __future__ import annotations

import json

import pytest

from scalp_nautilus.capture.scan import int_after
from scalp_nautilus.capture.scan import line_stream
from scalp_nautilus.capture.scan import str_after
from scalp_nautilus.data.compressed import open_lines
from tests.support.shared_data import CAPTURES

pytestmark = pytest.mark.real_data


@pytest.mark.parametrize("name", [*CAPTURES, "spot"])
def test_binance_fields_equal_a_full_parse(capture_paths, shared_data, name):
    path = shared_data / "binance-spot" / "spot_nexousdt_20240723.dat.gz" if name == "spot" else capture_paths(name)[0]
    checked = 0
    for line in open_lines(path):
        body = line.rstrip(b"\n").split(b" ", 1)[1]
        msg = json.loads(body)
        if "stream" not in msg:
            assert line_stream(body) == "snapshot" and "lastUpdateId" in msg
            continue
        stream, end = str_after(body, b'{"stream":"')
        assert stream.decode() == msg["stream"] == line_stream(body)
        data = msg["data"]
        assert int_after(body, b'"E":', end) == data.get("E")
        if data.get("e") == "depthUpdate":
            assert (int_after(body, b'"U":', end), int_after(body, b'"u":', end)) == (data["U"], data["u"])
            assert int_after(body, b'"pu":', end) == data.get("pu")
        checked += 1
    assert checked > 1_000


def test_bybit_fields_equal_a_full_parse(shared_data):
    for body in (shared_data / "bybit" / "2024-12-01_XRPUSDT_ob500.data").read_bytes().splitlines():
        msg = json.loads(body)
        topic, end = str_after(body, b'{"topic":"')
        assert topic.decode() == msg["topic"] and line_stream(body) == "orderbook.500"
        assert int_after(body, b'"ts":', end) == msg["ts"] and int_after(body, b'"u":', end) == msg["data"]["u"]
        assert body.startswith(b'"type":"snapshot"', end + 1) == (msg["type"] == "snapshot")


def test_values_that_are_not_integers_give_none():
    assert int_after(b'{"E":"12","u":5}', b'"E":') is None
    assert int_after(b'{"E":null}', b'"E":') is None
    assert int_after(b'{"u":5}', b'"U":') is None
    assert int_after(b'{"a":1,"u":77}', b'"u":') == 77
