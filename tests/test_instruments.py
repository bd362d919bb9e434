"""Contract specs: the tabulated ones, exchangeInfo files, and inference for unknown symbols."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from scalp_nautilus.instruments import resolve_spec


def test_exchange_info_file(tmp_path):
    info = {
        "symbols": [
            {
                "symbol": "DOGEUSDT",
                "baseAsset": "DOGE",
                "quoteAsset": "USDT",
                "marginAsset": "USDT",
                "filters": [
                    {"filterType": "PRICE_FILTER", "tickSize": "0.000010", "minPrice": "0.002", "maxPrice": "30"},
                    {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1", "maxQty": "50000000"},
                    {"filterType": "MIN_NOTIONAL", "notional": "5"},
                ],
            }
        ]
    }
    path = tmp_path / "exchangeInfo.json"
    path.write_text(json.dumps(info))
    inst = resolve_spec("BINANCE", "DOGEUSDT", exchange_info=path).to_instrument()
    assert str(inst.id) == "DOGEUSDT-PERP.BINANCE" and inst.price_precision == 6 and inst.size_precision == 0
    assert inst.min_notional.as_decimal() == Decimal("5")
    with pytest.raises(KeyError, match="XRPUSDT"):
        resolve_spec("BINANCE", "XRPUSDT", exchange_info=path)


def test_unknown_symbol_inferred_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        spec = resolve_spec("BINANCE", "ADAUSDT", sample_price="0.3512", sample_size="12")
    assert spec.tick_size == "0.0001" and spec.step_size == "1" and spec.quote == "USDT" and spec.base == "ADA"
    assert "inferred" in caplog.text
    with pytest.raises(KeyError, match="no contract spec"):
        resolve_spec("OKX", "BTC-USDT-SWAP")


def test_tick_override_keeps_the_rest():
    spec = resolve_spec("BINANCE", "BTCUSDT", tick_size="0.01")
    assert spec.tick_size == "0.01" and spec.price_precision == 2 and spec.step_size == "0.001"
