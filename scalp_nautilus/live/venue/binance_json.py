"""The replay exchange's state as Binance USD-M futures JSON (REST bodies and user-stream events):
translation only, no state of its own."""

from __future__ import annotations

from scalp_nautilus.instruments import ContractSpec
from scalp_nautilus.live.venue.exchange import ConditionalOrder
from scalp_nautilus.live.venue.exchange import Exchange
from scalp_nautilus.live.venue.exchange import Fill
from scalp_nautilus.live.venue.exchange import Reason
from scalp_nautilus.live.venue.exchange import Rejected
from scalp_nautilus.live.venue.exchange import VenueOrder

# The exchange's refusals as Binance's error codes and messages ({} takes the refusal's detail).
BINANCE_ERRORS: dict[Reason, tuple[int, str]] = {
    Reason.UNKNOWN_SYMBOL: (-1121, "Invalid symbol."),
    Reason.BAD_PARAMETER: (-1102, "Mandatory parameter {} was not sent, was empty/null, or malformed."),
    Reason.ORDER_TYPE: (-1116, "Invalid orderType."),
    Reason.POSITION_SIDE: (-4061, "Order's position side does not match user's setting."),
    Reason.DUPLICATE_ID: (-4116, "ClientOrderId is duplicated."),
    Reason.QTY_STEP: (-1111, "Precision is over the maximum defined for this asset."),
    Reason.QTY_NOT_POSITIVE: (-4003, "Quantity less than or equal to zero."),
    Reason.QTY_TOO_SMALL: (-4003, "Quantity less than minimum."),
    Reason.QTY_TOO_LARGE: (-4005, "Quantity greater than max quantity."),
    Reason.TIME_IN_FORCE: (-1115, "Invalid timeInForce."),
    Reason.PRICE_TICK: (-4014, "Price not increased by tick size."),
    Reason.PRICE_TOO_LOW: (-4013, "Price less than min price."),
    Reason.REDUCE_ONLY: (-2022, "ReduceOnly Order is rejected."),
    Reason.NOTIONAL_TOO_SMALL: (-4164, "Order's notional must be no smaller than {} (unless you choose reduce only)."),
    Reason.MARGIN: (-2019, "Margin is insufficient."),
    Reason.POST_ONLY: (-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected."),
    Reason.UNKNOWN_ORDER: (-2011, "Unknown order sent."),
    Reason.WOULD_TRIGGER: (-2021, "Order would immediately trigger."),
    Reason.CLOSE_POSITION_QTY: (-4136, "Target strategy invalid for orderType with closePosition / quantity."),
}


def binance_error(refusal: Rejected) -> tuple[int, str]:
    code, msg = BINANCE_ERRORS[refusal.reason]
    return code, msg.replace("{}", refusal.detail or "").replace("  ", " ")


def exchange_info(spec: ContractSpec, now_ms: int, leverage: int) -> dict:
    filters = [
        {"filterType": "PRICE_FILTER", "minPrice": spec.tick_size, "maxPrice": "4529764", "tickSize": spec.tick_size},
        {
            "filterType": "LOT_SIZE",
            "minQty": spec.min_quantity or spec.step_size,
            "maxQty": spec.max_quantity or "1000000",
            "stepSize": spec.step_size,
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": spec.min_quantity or spec.step_size,
            "maxQty": spec.max_quantity or "1000000",
            "stepSize": spec.step_size,
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
    ]
    if spec.min_notional:
        filters.append({"filterType": "MIN_NOTIONAL", "notional": spec.min_notional})
    symbol = {
        "symbol": spec.raw_symbol,
        "pair": spec.raw_symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": f"{100 / leverage:.4f}",
        "baseAsset": spec.base,
        "quoteAsset": spec.quote,
        "marginAsset": spec.settlement,
        "pricePrecision": spec.price_precision,
        "quantityPrecision": spec.size_precision,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "settlePlan": 0,
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "filters": filters,
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": spec.settlement, "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [symbol],
    }


def _f(x: float, decimals: int = 8) -> str:
    return f"{x:.{decimals}f}"


def account_info(ex: Exchange, now_ms: int) -> dict:
    asset = ex.spec.settlement
    margin = ex.initial_margin
    balance = {
        "asset": asset,
        "walletBalance": _f(ex.wallet),
        "unrealizedProfit": _f(ex.unrealized),
        "marginBalance": _f(ex.wallet + ex.unrealized),
        "maintMargin": _f(margin / 2),
        "initialMargin": _f(margin),
        "positionInitialMargin": _f(margin),
        "openOrderInitialMargin": _f(0.0),
        "crossWalletBalance": _f(ex.wallet),
        "crossUnPnl": _f(ex.unrealized),
        "availableBalance": _f(max(ex.available, 0.0)),
        "maxWithdrawAmount": _f(max(ex.available, 0.0)),
        "marginAvailable": True,
        "updateTime": now_ms,
    }
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": now_ms,
        "totalInitialMargin": balance["initialMargin"],
        "totalMaintMargin": balance["maintMargin"],
        "totalWalletBalance": balance["walletBalance"],
        "totalUnrealizedProfit": balance["unrealizedProfit"],
        "totalMarginBalance": balance["marginBalance"],
        "totalPositionInitialMargin": balance["initialMargin"],
        "totalOpenOrderInitialMargin": _f(0.0),
        "totalCrossWalletBalance": balance["walletBalance"],
        "totalCrossUnPnl": balance["unrealizedProfit"],
        "availableBalance": balance["availableBalance"],
        "maxWithdrawAmount": balance["maxWithdrawAmount"],
        "assets": [balance],
        "positions": [],
    }


def position_risk(ex: Exchange, now_ms: int) -> dict:
    sp, pp = ex.spec.size_precision, ex.spec.price_precision
    return {
        "symbol": ex.spec.raw_symbol,
        "positionSide": "BOTH",
        "positionAmt": _f(ex.position, sp),
        "entryPrice": _f(ex.entry_price, pp + 2),
        "breakEvenPrice": _f(ex.entry_price, pp + 2),
        "markPrice": _f(ex.mark, pp + 2),
        "unRealizedProfit": _f(ex.unrealized),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": _f(ex.position * ex.mark),
        "marginAsset": ex.spec.settlement,
        "isolatedWallet": "0",
        "initialMargin": _f(ex.initial_margin),
        "maintMargin": _f(ex.initial_margin / 2),
        "positionInitialMargin": _f(ex.initial_margin),
        "openOrderInitialMargin": "0",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": now_ms,
    }


def order_json(o: VenueOrder, spec: ContractSpec) -> dict:
    sp, pp = spec.size_precision, spec.price_precision
    return {
        "orderId": o.order_id,
        "symbol": o.symbol,
        "status": o.status,
        "clientOrderId": o.client_order_id,
        "price": _f(o.price, pp),
        "avgPrice": _f(o.avg_price),
        "origQty": _f(o.qty, sp),
        "executedQty": _f(o.executed, sp),
        "cumQty": _f(o.executed, sp),
        "cumQuote": _f(o.cum_quote),
        "timeInForce": o.tif,
        "type": o.type,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": o.side,
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "origType": o.type,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": o.time_ms,
        "updateTime": o.update_ms,
    }


def order_update(o: VenueOrder, execution: str, fill: Fill | None, spec: ContractSpec) -> dict:
    sp, pp = spec.size_precision, spec.price_precision
    return {
        "s": o.symbol,
        "c": o.client_order_id,
        "S": o.side,
        "o": o.type,
        "f": o.tif,
        "q": _f(o.qty, sp),
        "p": _f(o.price, pp),
        "ap": _f(o.avg_price),
        "sp": "0",
        "x": execution,
        "X": o.status,
        "i": o.order_id,
        "l": _f(fill.qty if fill else 0.0, sp),
        "z": _f(o.executed, sp),
        "L": _f(fill.price if fill else 0.0, pp),
        "N": spec.settlement,
        "n": _f(fill.commission if fill else 0.0),
        "T": fill.time_ms if fill else o.update_ms,
        "t": fill.trade_id if fill else 0,
        "b": "0",
        "a": "0",
        "m": bool(fill and fill.maker),
        "R": o.reduce_only,
        "wt": "CONTRACT_PRICE",
        "ot": o.type,
        "ps": "BOTH",
        "cp": False,
        "rp": _f(fill.realized_pnl if fill else 0.0),
        "pP": False,
        "si": 0,
        "ss": 0,
        "V": "NONE",
        "pm": "NONE",
        "gtd": 0,
    }


def account_update(ex: Exchange, now_ms: int) -> dict:
    sp, pp = ex.spec.size_precision, ex.spec.price_precision
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "a": {
            "m": "ORDER",
            "B": [{"a": ex.spec.settlement, "wb": _f(ex.wallet), "cw": _f(ex.wallet), "bc": "0"}],
            "P": [
                {
                    "s": ex.spec.raw_symbol,
                    "pa": _f(ex.position, sp),
                    "ep": _f(ex.entry_price, pp + 2),
                    "bep": _f(ex.entry_price, pp + 2),
                    "cr": _f(ex.realized),
                    "up": _f(ex.unrealized),
                    "mt": "cross",
                    "iw": "0",
                    "ps": "BOTH",
                    "ma": ex.spec.settlement,
                }
            ],
        },
    }


def trade_json(f: Fill, spec: ContractSpec) -> dict:
    o = f.order
    return {
        "buyer": o.side == "BUY",
        "commission": _f(f.commission),
        "commissionAsset": spec.settlement,
        "id": f.trade_id,
        "maker": f.maker,
        "orderId": o.order_id,
        "price": _f(f.price, spec.price_precision),
        "qty": _f(f.qty, spec.size_precision),
        "quoteQty": _f(f.qty * f.price),
        "realizedPnl": _f(f.realized_pnl),
        "side": o.side,
        "positionSide": "BOTH",
        "symbol": o.symbol,
        "time": f.time_ms,
    }


def algo_order_json(c: ConditionalOrder, spec: ContractSpec) -> dict:
    """`POST /fapi/v1/algoOrder`, `GET /fapi/v1/algoOrder` and `/fapi/v1/openAlgoOrders` bodies."""
    sp, pp = spec.size_precision, spec.price_precision
    return {
        "algoId": c.algo_id,
        "clientAlgoId": c.client_id,
        "algoType": "CONDITIONAL",
        "orderType": c.type,
        "symbol": c.symbol,
        "side": c.side,
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": _f(c.qty, sp),
        "algoStatus": c.status,
        "triggerPrice": _f(c.trigger_price, pp),
        "price": _f(0.0, pp),
        "icebergQuantity": None,
        "selfTradePreventionMode": "NONE",
        "workingType": c.working_type,
        "priceMatch": "NONE",
        "closePosition": c.close_position,
        "priceProtect": False,
        "reduceOnly": c.reduce_only,
        "createTime": c.time_ms,
        "updateTime": c.update_ms,
        "triggerTime": c.trigger_ms,
        "goodTillDate": 0,
        **({"actualOrderId": str(c.order.order_id)} if c.order is not None else {}),
    }


def algo_update(c: ConditionalOrder, now_ms: int, spec: ContractSpec) -> dict:
    """The user stream's ``ALGO_UPDATE`` event for `c`'s current status."""
    sp, pp = spec.size_precision, spec.price_precision
    o = c.order
    return {
        "e": "ALGO_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "o": {
            "caid": c.client_id,
            "aid": c.algo_id,
            "at": "CONDITIONAL",
            "o": c.type,
            "s": c.symbol,
            "S": c.side,
            "ps": "BOTH",
            "f": "GTC",
            "q": _f(c.qty if c.qty else (o.qty if o else 0.0), sp),
            "X": c.status,
            "tp": _f(c.trigger_price, pp),
            "p": _f(0.0, pp),
            "wt": c.working_type,
            "pm": "NONE",
            "cp": c.close_position,
            "pP": False,
            "R": c.reduce_only,
            "tt": c.trigger_ms,
            "gtd": 0,
            **({"ai": str(o.order_id), "ap": _f(o.avg_price), "aq": _f(o.executed, sp), "act": "MARKET"} if o else {}),
        },
    }
