"""The replay exchange's state and a Binance capture's messages as Bybit v5 JSON (linear
perpetual): REST results, private-stream events, public-stream messages and the exchange's
refusals as Bybit `retCode`s. Translation only, no state of its own.

Public messages made from a recorded Binance capture (the mapping `tests/test_bybit_venue.py`
checks with the Bybit parser oracle of `tests/test_bybit.py`):
- ``orderbook.<depth>.<symbol>``: a depth diff's ``b`` / ``a`` level replacements as a ``delta``
  (``u`` the subscription's own message count, one more per message; ``seq`` the diff's Binance
  update id ``u``; ``ts`` / ``cts`` its transaction time ``T``); a book as a ``snapshot``
  (``seq`` its last update id). Empty diffs are not sent (Bybit sends no empty delta).
- ``publicTrade.<symbol>``: one message per recorded trade (``T`` its time, ``S`` the aggressor:
  ``Sell`` when Binance's buyer was the maker, ``v`` / ``p`` as recorded, ``i`` the trade id).
- ``tickers.<symbol>``: each ``markPriceUpdate`` (``markPrice``, ``indexPrice``, ``fundingRate``,
  ``nextFundingTime``, 8-hour interval), sent whole as a ``snapshot``.
"""

from __future__ import annotations

from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.live.venue.exchange import ConditionalOrder
from scalp_nautilus.live.venue.exchange import Exchange
from scalp_nautilus.live.venue.exchange import Fill
from scalp_nautilus.live.venue.exchange import Reason
from scalp_nautilus.live.venue.exchange import Rejected
from scalp_nautilus.live.venue.exchange import VenueOrder

CATEGORY = "linear"

# The exchange's refusals as Bybit's retCode and retMsg ({} takes the refusal's detail). Bybit
# answers most malformed orders with 10001 (params error).
BYBIT_ERRORS: dict[Reason, tuple[int, str]] = {
    Reason.UNKNOWN_SYMBOL: (10001, "params error: symbol invalid"),
    Reason.BAD_PARAMETER: (10001, "params error: {}"),
    Reason.ORDER_TYPE: (10001, "params error: orderType invalid"),
    Reason.POSITION_SIDE: (10001, "position idx not match position mode"),
    Reason.DUPLICATE_ID: (110072, "OrderLinkedID is duplicate"),
    Reason.QTY_STEP: (10001, "params error: qty is not a multiple of qtyStep"),
    Reason.QTY_NOT_POSITIVE: (10001, "params error: qty must be greater than 0"),
    Reason.QTY_TOO_SMALL: (10001, "The number of contracts exceeds minimum limit allowed"),
    Reason.QTY_TOO_LARGE: (10001, "The number of contracts exceeds maximum limit allowed"),
    Reason.TIME_IN_FORCE: (10001, "params error: timeInForce invalid"),
    Reason.PRICE_TICK: (10001, "params error: price is not a multiple of tickSize"),
    Reason.PRICE_TOO_LOW: (10001, "params error: price is below minPrice"),
    Reason.REDUCE_ONLY: (110017, "Reduce-only rule not satisfied"),
    Reason.NOTIONAL_TOO_SMALL: (110094, "Order does not meet minimum order value {}USDT"),
    Reason.MARGIN: (110007, "ab not enough for new order"),
    Reason.POST_ONLY: (110093, "PostOnly order would take liquidity"),  # Bybit accepts, then cancels it
    Reason.UNKNOWN_ORDER: (110001, "order not exists or too late to cancel"),
}

_SIDES = {"BUY": "Buy", "SELL": "Sell"}
_TYPES = {"LIMIT": "Limit", "MARKET": "Market"}
_TIF = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "PostOnly"}


# Order fields the venue never sets (no attached TP/SL, no SMP): the same in every order record.
_UNUSED_ORDER_FIELDS = {
    "takeProfit": "0",
    "stopLoss": "0",
    "tpTriggerBy": "",
    "slTriggerBy": "",
    "tpLimitPrice": "0",
    "slLimitPrice": "0",
    "tpslMode": "",
    "placeType": "",
    "smpType": "None",
    "smpGroup": 0,
    "smpOrderId": "",
    "createType": "CreateByUser",
}


def bybit_error(refusal: Rejected) -> tuple[int, str]:
    code, msg = BYBIT_ERRORS[refusal.reason]
    return code, msg.replace("{}", refusal.detail or "")


def response(result: dict | None, now_ms: int, code: int = 0, msg: str = "OK") -> dict:
    """Bybit's REST envelope."""
    return {"retCode": code, "retMsg": msg, "result": result if result is not None else {}, "retExtInfo": {}, "time": now_ms}


def _f(x: float, decimals: int = 8) -> str:
    return f"{x:.{decimals}f}"


# ---------------------------------------------------------------------- orders in and out


def order_request(args: dict) -> dict[str, str]:
    """A Bybit ``order/create`` body (or trade-stream ``order.create`` args) as the exchange core's
    order request; unknown values pass through for the core to refuse."""
    side, kind, tif = str(args.get("side")), str(args.get("orderType")), str(args.get("timeInForce") or "GTC")
    request = {
        "symbol": str(args.get("symbol", "")),
        "side": {"Buy": "BUY", "Sell": "SELL"}.get(side, side),
        "type": {"Limit": "LIMIT", "Market": "MARKET"}.get(kind, kind),
        "quantity": str(args.get("qty", "")),
        "timeInForce": {"PostOnly": "GTX"}.get(tif, tif),
        "reduceOnly": "true" if args.get("reduceOnly") in (True, "true") else "false",
    }
    if args.get("price") is not None:
        request["price"] = str(args["price"])
    if args.get("orderLinkId"):
        request["newClientOrderId"] = str(args["orderLinkId"])
    if int(args.get("positionIdx") or 0) != 0:
        request["positionSide"] = "HEDGE"  # hedge mode: the venue's account is one-way
    return request


def conditional_request(args: dict) -> dict[str, str]:
    """A Bybit conditional order (``triggerPrice`` set; a Market order with ``triggerDirection`` 1
    rises to / 2 falls to the trigger, ``triggerBy`` MarkPrice or LastPrice) as the exchange core's
    conditional request: a stop is a buy rising to or a sell falling to its trigger, the other way a
    take-profit; a Limit one is refused (the core has conditional market orders only)."""
    base = order_request(args)
    rises = str(args.get("triggerDirection")) == "1"
    stop = rises == (base["side"] == "BUY")
    kind = ("STOP_MARKET" if stop else "TAKE_PROFIT_MARKET") if base["type"] == "MARKET" else "STOP_LIMIT"
    request: dict[str, str] = {k: base[k] for k in ("symbol", "side", "quantity", "reduceOnly") if k in base}
    request.update(
        type=kind,
        algoType="CONDITIONAL",
        triggerPrice=str(args.get("triggerPrice")),
        workingType="MARK_PRICE" if args.get("triggerBy") == "MarkPrice" else "CONTRACT_PRICE",
    )
    if base.get("newClientOrderId"):
        request["clientAlgoId"] = base["newClientOrderId"]
    return request


def order_status(o: VenueOrder) -> str:
    if o.status == "EXPIRED":  # IOC / FOK / market remainder: Bybit cancels it
        return "PartiallyFilledCanceled" if o.executed else "Cancelled"
    return {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled", "CANCELED": "Cancelled"}[o.status]


def conditional_json(c: ConditionalOrder, spec: ContractSpec) -> dict:
    """An untriggered (or cancelled, or just triggered) conditional order as Bybit reports it; once
    triggered its market order is reported by `order_json` under the same order id."""
    sp, pp = spec.size_precision, spec.price_precision
    status = {"NEW": "Untriggered", "CANCELED": "Deactivated", "EXPIRED": "Deactivated"}.get(c.status, "Triggered")
    return {
        "category": CATEGORY,
        "symbol": c.symbol,
        "orderId": str(c.algo_id),
        "orderLinkId": c.client_id,
        "blockTradeId": "",
        "side": _SIDES[c.side],
        "orderType": "Market",
        "price": "0",
        "qty": _f(c.qty, sp),
        "timeInForce": "IOC",
        "orderStatus": status,
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "isLeverage": "",
        "positionIdx": 0,
        "avgPrice": "",
        "leavesQty": _f(c.qty, sp),
        "leavesValue": "0",
        "cumExecQty": "0",
        "cumExecValue": "0",
        "cumExecFee": "0",
        "feeCurrency": spec.settlement,
        "orderIv": "",
        "lastPriceOnCreated": "",
        "reduceOnly": c.reduce_only,
        "closeOnTrigger": c.close_position,
        **_trigger_fields(c, pp),
        **_UNUSED_ORDER_FIELDS,
        "createdTime": str(c.time_ms),
        "updatedTime": str(c.update_ms),
    }


def _trigger_fields(c: ConditionalOrder | None, pp: int) -> dict:
    if c is None:
        return {"stopOrderType": "", "triggerPrice": "0", "triggerDirection": 0, "triggerBy": ""}
    rises = (c.type == "STOP_MARKET") == (c.side == "BUY")
    return {
        "stopOrderType": "Stop",
        "triggerPrice": _f(c.trigger_price, pp),
        "triggerDirection": 1 if rises else 2,
        "triggerBy": "MarkPrice" if c.working_type == "MARK_PRICE" else "LastPrice",
    }


def order_json(o: VenueOrder, spec: ContractSpec, conditional: ConditionalOrder | None = None) -> dict:
    """An order as the ``order`` topic and ``order/realtime`` / ``order/history`` carry it (a
    triggered conditional's market order under the conditional's id and trigger)."""
    sp, pp = spec.size_precision, spec.price_precision
    leaves = 0.0 if not o.open else o.qty - o.executed
    order_id = conditional.algo_id if conditional is not None else o.order_id
    return {
        "category": CATEGORY,
        "symbol": o.symbol,
        "orderId": str(order_id),
        "orderLinkId": o.client_order_id,
        "blockTradeId": "",
        "side": _SIDES[o.side],
        "orderType": _TYPES.get(o.type, "Market"),
        "price": _f(o.price, pp),
        "qty": _f(o.qty, sp),
        "timeInForce": _TIF[o.tif] if o.type == "LIMIT" else "IOC",
        "orderStatus": order_status(o),
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "isLeverage": "",
        "positionIdx": 0,
        "avgPrice": _f(o.avg_price, pp) if o.executed else "",
        "leavesQty": _f(leaves, sp),
        "leavesValue": _f(leaves * o.price),
        "cumExecQty": _f(o.executed, sp),
        "cumExecValue": _f(o.cum_quote),
        "cumExecFee": _f(0.0),
        "feeCurrency": spec.settlement,
        "orderIv": "",
        "lastPriceOnCreated": _f(o.price, pp),
        "reduceOnly": o.reduce_only,
        "closeOnTrigger": False,
        **_trigger_fields(conditional, pp),
        **_UNUSED_ORDER_FIELDS,
        "createdTime": str(o.time_ms),
        "updatedTime": str(o.update_ms),
    }


def execution_json(f: Fill, ex: Exchange, order_id: int | None = None) -> dict:
    """A fill as the ``execution`` topic and ``execution/list`` carry it (`order_id`: the id Bybit
    reports, a triggered conditional's own)."""
    o, spec = f.order, ex.spec
    order_id = o.order_id if order_id is None else order_id
    sp, pp = spec.size_precision, spec.price_precision
    rate = ex.fees.rate(f.maker)
    return {
        "category": CATEGORY,
        "symbol": o.symbol,
        "orderId": str(order_id),
        "orderLinkId": o.client_order_id,
        "side": _SIDES[o.side],
        "orderPrice": _f(o.price, pp),
        "orderQty": _f(o.qty, sp),
        "leavesQty": _f(max(o.qty - o.executed, 0.0) if o.open else 0.0, sp),
        "createType": "CreateByUser",
        "orderType": _TYPES.get(o.type, "Market"),
        "stopOrderType": "" if o.type in _TYPES else "Stop",
        "execFee": _f(f.commission),
        "execId": str(f.trade_id),
        "execPrice": _f(f.price, pp),
        "execQty": _f(f.qty, sp),
        "execType": "Trade",
        "execValue": _f(f.qty * f.price),
        "execTime": str(f.time_ms),
        "feeCurrency": spec.settlement,
        "isMaker": f.maker,
        "feeRate": _f(rate, 6),
        "tradeIv": "",
        "markIv": "",
        "markPrice": _f(ex.mark, pp),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": "0",
        "seq": f.trade_id,
        "isLeverage": "0",
    }


def position_json(ex: Exchange, now_ms: int) -> dict:
    """The one-way position as the ``position`` topic and ``position/list`` carry it (side "" and
    size 0 when flat)."""
    spec = ex.spec
    sp, pp = spec.size_precision, spec.price_precision
    side = "" if not ex.position else ("Buy" if ex.position > 0 else "Sell")
    return {
        "category": CATEGORY,
        "positionIdx": 0,
        "tradeMode": 0,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": spec.raw_symbol,
        "side": side,
        "size": _f(abs(ex.position), sp),
        "avgPrice": _f(ex.entry_price, pp + 2),
        "entryPrice": _f(ex.entry_price, pp + 2),
        "sessionAvgPrice": "",
        "leverage": str(ex.settings.leverage),
        "positionValue": _f(abs(ex.position) * ex.entry_price),
        "positionBalance": "0",
        "markPrice": _f(ex.mark, pp),
        "positionIM": _f(ex.initial_margin),
        "positionMM": _f(ex.initial_margin / 2),
        "positionIMByMp": _f(ex.initial_margin),
        "positionMMByMp": _f(ex.initial_margin / 2),
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": _f(ex.unrealized),
        "curRealisedPnl": _f(ex.realized),
        "cumRealisedPnl": _f(ex.realized),
        "createdTime": str(now_ms),
        "updatedTime": str(now_ms),
        "tpslMode": "Full",
        "liqPrice": "",
        "bustPrice": "",
        "positionStatus": "Normal",
        "adlRankIndicator": 0,
        "autoAddMargin": 0,
        "leverageSysUpdatedTime": "",
        "mmrSysUpdatedTime": "",
        "seq": now_ms,
        "isReduceOnly": False,
    }


def wallet_json(ex: Exchange) -> dict:
    """The unified account with its one coin (the settlement asset)."""
    equity = ex.wallet + ex.unrealized
    available = max(ex.available, 0.0)
    return {
        "accountType": "UNIFIED",
        "accountIMRate": "0",
        "accountMMRate": "0",
        "accountLTV": "0",
        "totalEquity": _f(equity),
        "totalWalletBalance": _f(ex.wallet),
        "totalMarginBalance": _f(equity),
        "totalAvailableBalance": _f(available),
        "totalPerpUPL": _f(ex.unrealized),
        "totalInitialMargin": _f(ex.initial_margin),
        "totalMaintenanceMargin": _f(ex.initial_margin / 2),
        "coin": [
            {
                "coin": ex.spec.settlement,
                "equity": _f(equity),
                "usdValue": _f(equity),
                "walletBalance": _f(ex.wallet),
                "availableToWithdraw": _f(available),
                "availableToBorrow": "",
                "borrowAmount": "0",
                "accruedInterest": "0",
                "totalOrderIM": "0",
                "totalPositionIM": _f(ex.initial_margin),
                "totalPositionMM": _f(ex.initial_margin / 2),
                "unrealisedPnl": _f(ex.unrealized),
                "cumRealisedPnl": _f(ex.realized),
                "bonus": "0",
                "locked": "0",
                "collateralSwitch": True,
                "marginCollateral": True,
                "spotBorrow": "0",
            }
        ],
    }


def private_message(topic: str, data: list[dict], now_ms: int, seq: int) -> dict:
    return {"id": f"replay-{seq}", "topic": topic, "creationTime": now_ms, "data": data}


# ---------------------------------------------------------------------- market data and reference


def instrument_json(spec: ContractSpec, leverage: int) -> dict:
    return {
        "symbol": spec.raw_symbol,
        "contractType": "LinearPerpetual",
        "status": "Trading",
        "baseCoin": spec.base,
        "quoteCoin": spec.quote,
        "launchTime": "1584230400000",
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": str(spec.price_precision),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": str(max(leverage, 100)), "leverageStep": "0.01"},
        "priceFilter": {"minPrice": spec.tick_size, "maxPrice": "1999999.80", "tickSize": spec.tick_size},
        "lotSizeFilter": {
            "maxOrderQty": spec.max_quantity or "1000000",
            "minOrderQty": spec.min_quantity or spec.step_size,
            "qtyStep": spec.step_size,
            "postOnlyMaxOrderQty": spec.max_quantity or "1000000",
            "maxMktOrderQty": spec.max_quantity or "1000000",
            "minNotionalValue": spec.min_notional or "0",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": 480,
        "settleCoin": spec.settlement,
        "copyTrading": "both",
        "upperFundingRate": "0.005",
        "lowerFundingRate": "-0.005",
        "isPreListing": False,
        "preListingInfo": None,
    }


def book_message(
    topic: str, kind: str, symbol: str, bids: list, asks: list, u: int, seq: int, ts_ms: int, cts_ms: int | None = None
) -> dict:
    return {
        "topic": topic,
        "type": kind,
        "ts": ts_ms,
        "data": {"s": symbol, "b": bids, "a": asks, "u": u, "seq": seq},
        "cts": cts_ms or ts_ms,
    }


def trade_message(topic: str, trade: dict) -> dict:
    """A recorded Binance trade as Bybit's ``publicTrade`` message (see the module doc)."""
    return {
        "topic": topic,
        "type": "snapshot",
        "ts": int(trade["E"]),
        "data": [
            {
                "T": int(trade["T"]),
                "s": trade["s"],
                "S": "Sell" if trade["m"] else "Buy",
                "v": trade["q"],
                "p": trade["p"],
                "L": "ZeroPlusTick",
                "i": str(trade["t"]),
                "BT": False,
            }
        ],
    }


def ticker_message(topic: str, mark: dict, seq: int) -> dict:
    """A recorded ``markPriceUpdate`` as Bybit's ``tickers`` message (see the module doc)."""
    return {
        "topic": topic,
        "type": "snapshot",
        "cs": seq,
        "ts": int(mark["E"]),
        "data": {
            "symbol": mark["s"],
            "markPrice": mark["p"],
            "indexPrice": mark["i"],
            "fundingRate": mark["r"],
            "nextFundingTime": str(int(mark["T"])),
            "fundingIntervalHour": "8",
        },
    }
