# Generated from scalp_nautilus.feature_table.COLUMNS by `python -m scalp_nautilus.feature_table`: do not edit.
from typing import NamedTuple

class FeatureSnapshot(NamedTuple):
    """All current feature values (one recorder row); see `scalp_nautilus.feature_table`."""

    ts_event: int  # ns, of the book batch or trade that produced the row
    mid: float  # last valid mid (0.0 before the first valid book)
    book_valid: bool  # the latest book was usable
    ofi: float  # multi-level OFI of the latest book update (size units)
    ofi_z: float  # z-score of the OFI over its window
    vpin: float  # [0, 1]
    vpin_regime: int  # VPINRegime: 0 low, 1 medium, 2 high, 3 extreme
    vpin_multiplier: float  # position size multiplier of the VPIN regime
    cvd: float  # net signed volume over the CVD window (size units)
    cvd_z: float  # z-score of the windowed CVD over its last one-second values
    cvd_divergence: float  # [-1, 1], sign = flow direction, 0 = none
    trade_side: int  # side of the latest trade (+1/-1, 0 before any)
    spread_bps: float  # best ask - best bid, bps of the mid
    depth_imbalance: float  # b / (b + a) over the liquidity levels, [0, 1]
    weighted_depth: float  # size units
    slippage_buy_bps: float  # VWAP cost of the slippage size, bps
    slippage_sell_bps: float  # VWAP cost of the slippage size, bps
    resilience: float  # [0, 1], 0.5 = depth at its average
    depth_shock: bool  # depth under shock ratio x its EWMA (False: n/a)
    kyle_lambda: float  # quote currency per size unit
    regime_multiplier: float  # [0.2, 1.0]
    spread_state: int  # AxisState: 0 good, 1 normal, 2 poor
    depth_state: int  # AxisState (-1: n/a)
    activity_state: int  # AxisState
    activity_rate: float  # book updates per second
    depth_notional: float  # quote currency in the band, both sides
    warm: bool  # every book and trade indicator is initialized
    cold: str  # the indicators still warming up, comma-separated
    hurst: float  # R/S Hurst exponent of the mid returns, [0, 1] (0.5 until defined)
    ou_z: float  # (mid - mu) / sigma of the fitted OU process
    ou_active: bool  # the Hurst gate is open and the fit is valid
    ou_signal: float  # +1 buy / -1 sell beyond the z threshold, decaying per bar otherwise
    parkinson_vol: float  # per-bar log-return volatility from bar ranges
    realized_vol: float  # per-bar close-to-close volatility
    blend_vol: float  # their configured blend: the stop's sigma
    funding_z: float  # z of the latest settled rate against its history
    funding_direction: int  # +1 long / -1 short the perpetual to collect funding; 0 none
    funding_bps: float  # annualised expected return of that opportunity, bps (0 without)
    lob_0: float = 0.0  # z of bid_size_0
    lob_1: float = 0.0  # z of bid_size_1
    lob_2: float = 0.0  # z of bid_size_2
    lob_3: float = 0.0  # z of bid_size_3
    lob_4: float = 0.0  # z of bid_size_4
    lob_5: float = 0.0  # z of ask_size_0
    lob_6: float = 0.0  # z of ask_size_1
    lob_7: float = 0.0  # z of ask_size_2
    lob_8: float = 0.0  # z of ask_size_3
    lob_9: float = 0.0  # z of ask_size_4
    lob_10: float = 0.0  # z of imbalance_0
    lob_11: float = 0.0  # z of imbalance_1
    lob_12: float = 0.0  # z of imbalance_2
    lob_13: float = 0.0  # z of imbalance_3
    lob_14: float = 0.0  # z of imbalance_4
    lob_15: float = 0.0  # z of spread
    lob_16: float = 0.0  # z of rsi
    lob_17: float = 0.0  # z of ema_fast
    lob_18: float = 0.0  # z of ema_slow
    lob_19: float = 0.0  # z of atr
    lob_20: float = 0.0  # z of bollinger_width
    lstm_direction: float = 0.0  # [-1, 1]
    lstm_confidence: float = 0.0  # [0, 1]
    lstm_volatility: float = 0.0  # >= 0
    lstm_active: bool = False  # a valid model is loaded and enabled (else: the fallback)
    ensemble_direction: float = 0.0  # the members' direction, [-1, 1]
    ensemble_confidence: float = 0.0  # the members' agreement, [0,1]
    update_id: int = 0  # the exchange's sequence of the latest book batch
    traded_volume: float = 0.0  # size units fed to the pipeline since it started
