"""The top-of-book mode (DESIGN §8): the same strategy on data that has only a best bid/ask and trades.

Binance's public archive (`scalp_nautilus.data.binance_archive`) gives a bookTicker stream (Nautilus
`QuoteTick`s) and every trade, but no depth. In this mode the strategy subscribes to quote ticks
instead of order-book deltas and takes a one-level `BookSnapshot` of each
(`BookSnapshotBuilder.from_quote`, `levels` 1); everything else runs unchanged:

- the features computed from level 1 are computed as on a full book: spread, OFI (with one level
  it is Cont, Kukanov and Stoikov's own best-level form), VPIN, CVD, Lee-Ready, Hurst, OU,
  Parkinson, funding, Kyle's λ, the LOB vector's level-0 sizes, imbalance and bar elements;
- a value needing depth beyond level 1 is unavailable: NaN in the row, never 0 (the deeper LOB
  vector elements, the depth measures over the liquidity levels, the slippage walk, the band
  notional); `depth_state` is -1 and `depth_shock` False (`feature_table.Column.missing`);
- the regime's multiplier drops its depth axis (spread x activity);
- the LSTM is off unless its model file says it was trained on books showing one level
  (`model_file.book_levels`), and it is then absent from the ensemble, not a silent member: its
  weight goes to the others (`ensemble.without_member`);
- the backtest summary and the research report name the unavailable columns.

Which mode (`book.mode` in the strategy config): `l2`, `top_of_book`, or `auto` (the default),
which takes the catalog's data: `top_of_book` when it holds quotes and no order-book deltas for the
instrument, `l2` otherwise (`resolve`). A live node reads L2 deltas (`auto` is `l2` there).
"""

from __future__ import annotations

from nautilus_trader.model.data import OrderBookDelta
from nautilus_trader.model.data import QuoteTick
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from scalp_nautilus.feature_table import EVERY_LEVEL
from scalp_nautilus.feature_table import LOB_LEVELS
from scalp_nautilus.models.ensemble import without_member
from scalp_nautilus.models.lstm import LSTMPredictor

AUTO, L2, TOP_OF_BOOK = "auto", "l2", "top_of_book"
MODES = (AUTO, L2, TOP_OF_BOOK)


def book_levels(mode: str) -> int:
    """Book levels a side a run in `mode` reads (`auto` not yet resolved reads a full book)."""
    return 1 if mode == TOP_OF_BOOK else EVERY_LEVEL


def catalog_mode(catalog: ParquetDataCatalog, instrument_id: str) -> str:
    """`top_of_book` when the catalog holds quotes and no order-book deltas for the instrument."""
    if not catalog.get_intervals(OrderBookDelta, instrument_id) and catalog.get_intervals(QuoteTick, instrument_id):
        return TOP_OF_BOOK
    return L2


def resolve(mode: str, catalog: ParquetDataCatalog, instrument_id: str) -> str:
    """`mode` with `auto` decided from the catalog's data."""
    return catalog_mode(catalog, instrument_id) if mode == AUTO else mode


def ensemble_weights(
    weights: tuple[float, float, float, float], levels: int, lstm: LSTMPredictor
) -> tuple[float, float, float, float]:
    """The ensemble's member weights for books showing `levels` levels a side: the LSTM, which reads
    the whole LOB vector, is absent from a shallower book unless `lstm` runs a model trained on such
    books (ValueError when it was the only weighted member)."""
    if levels >= LOB_LEVELS or weights[1] == 0.0 or lstm.active:
        return weights
    return without_member(weights, "lstm")
