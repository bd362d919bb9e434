"""The feature row, declared once: the recorded rows are the contract (DESIGN §8).

`COLUMNS` is the table. Each entry gives a column of the row (one `FeatureSnapshot`, one row of the
feature recorder): its name, its type, where the compiled pipeline keeps its value (an indicator's
block and a slot named in that indicator's module), the book levels a side it is computed from,
its default, and its units. From the table come:

- the row type, `scalp_nautilus.feature_row.FeatureSnapshot`, and its stub `feature_row.pyi` so
  that the type checker sees the row's attributes (generated: ``python -m scalp_nautilus.feature_table``;
  `tests/test_feature_table.py` fails when it is stale);
- the recorder's Arrow schema and numpy dtype (`scalp_nautilus.feature_recorder`);
- the pipeline's gather from its state and its row builder (`scalp_nautilus.features`);
- the names research reads (`lob_column`) and the thresholds it reads the columns against
  (`HURST_MEAN_REVERSION_BELOW`, `HURST_MOMENTUM_ABOVE`, `ENSEMBLE_CONFIDENCE_GATE`: the defaults
  of the strategy's settings, which take them from here).

Plain Python (no numba, no Nautilus), so that research imports it cheaply.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

EVERY_LEVEL = 2**31 - 1  # book levels a side of a full book: every level the exchange has (`scalp_nautilus.book`)

# The LOB vector's layout (DESIGN feature 10): the LSTM's model file stores it and refuses another.
LOB_LEVELS = 5
LOB_FEATURE_NAMES: tuple[str, ...] = (
    *(f"bid_size_{k}" for k in range(LOB_LEVELS)),
    *(f"ask_size_{k}" for k in range(LOB_LEVELS)),
    *(f"imbalance_{k}" for k in range(LOB_LEVELS)),
    "spread",
    "rsi",
    "ema_fast",
    "ema_slow",
    "atr",
    "bollinger_width",
)
N_LOB_FEATURES = len(LOB_FEATURE_NAMES)
# the book levels a side each element is computed from (level k's sizes and imbalance: k + 1)
LOB_FEATURE_LEVELS: tuple[int, ...] = (*range(1, LOB_LEVELS + 1),) * 3 + (1,) * (N_LOB_FEATURES - 3 * LOB_LEVELS)

# The decision's reading of the columns (DESIGN section 1 and 3.8): the defaults of
# `signals.hurst_mean_reversion_below`, `signals.hurst_momentum_above` (also OU's Hurst gate) and
# `ensemble.confidence_gate`, and the bands research splits the rows by.
HURST_MEAN_REVERSION_BELOW = 0.4  # `hurst` below it: mean reversion (OU)
HURST_MOMENTUM_ABOVE = 0.6  # `hurst` above it: momentum (OFI and CVD)
ENSEMBLE_CONFIDENCE_GATE = 0.6  # `ensemble_confidence` above it: the members agree enough to trade

_REQUIRED = object()  # a column without a default


@dataclass(frozen=True)
class Column:
    """One column of the row.

    `kind`: its Python type (int, float, bool or str; the recorder's Arrow and numpy types follow
    it). Its value is slot `slot` (+ `offset`) of block `block` of the pipeline's compiled state,
    a float slot for a float column, an int slot otherwise (`slot` names the constant in the
    block's module). `levels`: the book levels a side it is computed from (an int, or the name of
    the indicator parameter that says it, "liquidity.levels"); on a book showing fewer it is
    unavailable: NaN, or for a column with no NaN (int, bool) its `missing` value. `default`: the
    value a row built without it takes (`_REQUIRED`: none)."""

    name: str
    kind: type
    block: str
    slot: str
    doc: str
    offset: int = 0
    levels: int | str = 1
    default: object = _REQUIRED
    missing: int = 0  # an int or bool column's value when unavailable (a float column's is NaN)

    @property
    def has_default(self) -> bool:
        return self.default is not _REQUIRED


_DEPTH = "liquidity.levels"  # the liquidity measures sum their configured levels
_VECTOR = LOB_LEVELS  # the LSTM reads the whole LOB vector
_MEMBERS = "ensemble.levels"  # the ensemble reads the LSTM when it is a member (not in top-of-book mode)
UNAVAILABLE_STATE = -1  # `depth_state` where the book shows no depth (`regime.AxisState.UNAVAILABLE`)

COLUMNS: tuple[Column, ...] = (
    Column("ts_event", int, "pipeline", "TS_EVENT", "ns, of the book batch or trade that produced the row"),
    Column("mid", float, "pipeline", "MID", "last valid mid (0.0 before the first valid book)"),
    Column("book_valid", bool, "pipeline", "BOOK_VALID", "the latest book was usable"),
    # order flow
    Column("ofi", float, "ofi", "VALUE", "multi-level OFI of the latest book update (size units)"),
    Column("ofi_z", float, "ofi", "Z", "z-score of the OFI over its window"),
    Column("vpin", float, "vpin", "VALUE", "[0, 1]"),
    Column("vpin_regime", int, "vpin", "REGIME", "VPINRegime: 0 low, 1 medium, 2 high, 3 extreme"),
    Column("vpin_multiplier", float, "vpin", "MULTIPLIER", "position size multiplier of the VPIN regime"),
    Column("cvd", float, "cvd", "VALUE", "net signed volume over the CVD window (size units)"),
    Column("cvd_z", float, "cvd", "Z", "z-score of the windowed CVD over its last one-second values"),
    Column("cvd_divergence", float, "cvd", "DIVERGENCE", "[-1, 1], sign = flow direction, 0 = none"),
    Column("trade_side", int, "classifier", "VALUE", "side of the latest trade (+1/-1, 0 before any)"),
    # liquidity
    Column("spread_bps", float, "liquidity", "SPREAD_BPS", "best ask - best bid, bps of the mid"),
    Column("depth_imbalance", float, "liquidity", "IMBALANCE", "b / (b + a) over the liquidity levels, [0, 1]", levels=_DEPTH),
    Column("weighted_depth", float, "liquidity", "WEIGHTED", "size units", levels=_DEPTH),
    Column("slippage_buy_bps", float, "liquidity", "SLIP_BUY", "VWAP cost of the slippage size, bps", levels=2),
    Column("slippage_sell_bps", float, "liquidity", "SLIP_SELL", "VWAP cost of the slippage size, bps", levels=2),
    Column("resilience", float, "liquidity", "VALUE", "[0, 1], 0.5 = depth at its average", levels=_DEPTH),
    Column("depth_shock", bool, "liquidity", "DEPTH_SHOCK", "depth under shock ratio x its EWMA (False: n/a)", levels=_DEPTH),
    Column("kyle_lambda", float, "kyle", "K_VALUE", "quote currency per size unit"),
    # microstructure regime (the band around the mid counts every level in it)
    # the multiplier of the axes the book shows: without depth (top of book) spread x activity
    Column("regime_multiplier", float, "regime", "VALUE", "[0.2, 1.0]"),
    Column("spread_state", int, "regime", "SPREAD_STATE", "AxisState: 0 good, 1 normal, 2 poor"),
    Column("depth_state", int, "regime", "DEPTH_STATE", "AxisState (-1: n/a)", levels=EVERY_LEVEL, missing=UNAVAILABLE_STATE),
    Column("activity_state", int, "regime", "ACTIVITY_STATE", "AxisState"),
    Column("activity_rate", float, "regime", "ACTIVITY_RATE", "book updates per second"),
    Column("depth_notional", float, "regime", "DEPTH_NOTIONAL", "quote currency in the band, both sides", levels=EVERY_LEVEL),
    # warm-up: funding needs 30 settlements (10 days at 8 h) and gates only its own signal
    # (`funding_direction` stays 0 until then), so it is not part of `warm`
    Column("warm", bool, "pipeline", "WARM", "every book and trade indicator is initialized"),
    Column("cold", str, "pipeline", "COLD", "the indicators still warming up, comma-separated"),
    # statistics of 1 s mid bars
    Column("hurst", float, "hurst", "VALUE", "R/S Hurst exponent of the mid returns, [0, 1] (0.5 until defined)"),
    Column("ou_z", float, "ou", "Z", "(mid - mu) / sigma of the fitted OU process"),
    Column("ou_active", bool, "ou", "ACTIVE", "the Hurst gate is open and the fit is valid"),
    Column("ou_signal", float, "ou", "VALUE", "+1 buy / -1 sell beyond the z threshold, decaying per bar otherwise"),
    Column("parkinson_vol", float, "parkinson", "PARKINSON", "per-bar log-return volatility from bar ranges"),
    Column("realized_vol", float, "parkinson", "REALIZED", "per-bar close-to-close volatility"),
    Column("blend_vol", float, "parkinson", "VALUE", "their configured blend: the stop's sigma"),
    # funding
    Column("funding_z", float, "pipeline", "FUND_Z", "z of the latest settled rate against its history"),
    Column("funding_direction", int, "pipeline", "FUND_DIR", "+1 long / -1 short the perpetual to collect funding; 0 none"),
    Column("funding_bps", float, "pipeline", "FUND_BPS", "annualised expected return of that opportunity, bps (0 without)"),
    # the z-scored LOB vector, `LOB_FEATURE_NAMES` order (all 0 when stale or cold)
    *(
        Column(f"lob_{k}", float, "lob", "VALUE", f"z of {name}", offset=k, levels=LOB_FEATURE_LEVELS[k], default=0.0)
        for k, name in enumerate(LOB_FEATURE_NAMES)
    ),
    # models (layer 3)
    Column("lstm_direction", float, "lstm", "VALUE", "[-1, 1]", levels=_VECTOR, default=0.0),
    Column("lstm_confidence", float, "lstm", "CONFIDENCE", "[0, 1]", levels=_VECTOR, default=0.0),
    Column("lstm_volatility", float, "lstm", "VOLATILITY", ">= 0", levels=_VECTOR, default=0.0),
    Column("lstm_active", bool, "lstm", "ACTIVE", "a valid model is loaded and enabled (else: the fallback)", default=False),
    Column("ensemble_direction", float, "ensemble", "VALUE", "the members' direction, [-1, 1]", levels=_MEMBERS, default=0.0),
    Column("ensemble_confidence", float, "ensemble", "CONFIDENCE", "the members' agreement, [0,1]", levels=_MEMBERS, default=0.0),
    # the exchange's sequence of the latest book batch (Binance: the diff's final update id `u`),
    # which keys a recording to the raw stream (live and backtest recordings align on it)
    Column("update_id", int, "pipeline", "UPDATE_ID", "the exchange's sequence of the latest book batch", default=0),
    # research reads an instrument's volume per hour from it (`scalp-nautilus research calibrate`)
    Column("traded_volume", float, "pipeline", "TRADED_VOLUME", "size units fed to the pipeline since it started", default=0.0),
)  # fmt: skip
FIELDS: tuple[str, ...] = tuple(c.name for c in COLUMNS)


def lob_column(element: str) -> str:
    """The row's column of a LOB vector element (`LOB_FEATURE_NAMES`), e.g. "imbalance_0" -> "lob_10"."""
    return f"lob_{LOB_FEATURE_NAMES.index(element)}"


def unavailable_text(names: tuple[str, ...] | list[str]) -> str:
    """Unavailable columns (`FeaturePipeline.unavailable`) in one line, the LOB vector's elements together."""
    lob = [n for n in names if n.startswith("lob_")]
    rest = [n for n in names if not n.startswith("lob_")]
    if lob:
        rest.append(f"{len(lob)} LOB vector elements ({', '.join(lob)})")
    return ", ".join(rest)


def _check(columns: tuple[Column, ...]) -> None:
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise ImportError(f"feature table: a column named twice in {names}")
    defaulted = [c.has_default for c in columns]
    if defaulted != sorted(defaulted):
        raise ImportError("feature table: the columns with a default must come last (a NamedTuple's rule)")
    for c in columns:
        if c.kind not in (int, float, bool, str):
            raise ImportError(f"feature table: {c.name} of type {c.kind}")


_check(COLUMNS)


# ---------------------------------------------------------------- the row type's stub

STUB = Path(__file__).with_name("feature_row.pyi")


def stub_text() -> str:
    """`feature_row.pyi`: the row type as the type checker sees it."""
    lines = [
        "# Generated from scalp_nautilus.feature_table.COLUMNS by `python -m scalp_nautilus.feature_table`: do not edit.",
        "from typing import NamedTuple",
        "",
        "class FeatureSnapshot(NamedTuple):",
        '    """All current feature values (one recorder row); see `scalp_nautilus.feature_table`."""',
        "",
    ]
    for c in COLUMNS:
        default = f" = {c.default!r}" if c.has_default else ""
        lines.append(f"    {c.name}: {c.kind.__name__}{default}  # {c.doc}")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write the stub (``--check``: exit 1 if it is stale instead)."""
    text = stub_text()
    if "--check" in sys.argv[1:]:
        current = STUB.read_text() if STUB.exists() else ""
        if current != text:
            print(f"{STUB} is stale: run python -m scalp_nautilus.feature_table")
            return 1
        return 0
    STUB.write_text(text)
    print(f"wrote {STUB}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
