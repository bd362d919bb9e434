"""`research edge` reading many days in bounded memory (`edge.Reduction`): the files are read a batch
at a time and only the rows the analyses read are kept, with their forward returns and the claims'
OFI intervals and OU episodes taken from every row while reading. The oracle is the whole-file path
(every row in memory, as before): the edge table and every claim must come out the same, on
synthetic files cut into many small batches (windows meet inside OU episodes, OFI intervals,
samples and grid seconds; invalid spans; two files) and on a real capture's recording."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from scalp_nautilus.data import spans
from scalp_nautilus.research import edge as edge_module
from scalp_nautilus.research.claims import READ_COLUMNS as CLAIM_COLUMNS
from scalp_nautilus.research.claims import claims_frame
from scalp_nautilus.research.claims import claims_table
from scalp_nautilus.research.edge import READ_COLUMNS as EDGE_COLUMNS
from scalp_nautilus.research.edge import edge_table
from scalp_nautilus.research.edge import load_features
from scalp_nautilus.research.intervals import BootstrapSettings
from scalp_nautilus.research.report import ResearchSettings
from scalp_nautilus.research.report import reduction
from tests.support.captures import load
from tests.support.captures import record
from tests.test_research_edge import features_file

S = 1_000_000_000
QUICK = BootstrapSettings(min_reps=100, max_reps=100)


def busy_file(path, n: int, seed: int, t0_ns: int, invalid: list[tuple[int, int]] = ()) -> str:
    """A recording with every column the claims read moving: irregular row times (bursts, pauses
    of several seconds, rows exactly on whole seconds), an OU z that crosses +-2 often, OFI, a
    funding z that steps, Hurst and VPIN bands, and warm-up rows."""
    rng = np.random.default_rng(seed)
    gaps = np.where(rng.random(n) < 0.01, rng.integers(1, 8, n) * S, rng.integers(1, 60, n) * 1_000_000)
    ts = t0_ns + np.cumsum(gaps)
    ts[::97] = ts[::97] // S * S  # some rows exactly on a second
    ts = np.maximum.accumulate(ts)
    ou = np.zeros(n)
    for i in range(1, n):
        ou[i] = 0.97 * ou[i - 1] + rng.normal(0, 0.6)
    cold = np.where(np.arange(n) < 300, "vpin,ofi,cvd,ou,hurst,parkinson", "")
    path = features_file(
        path,
        n,
        seed=seed,
        ts_event=ts,
        cold=cold,
        ofi=rng.normal(0, 5, n),
        ou_z=ou,
        ou_active=rng.random(n) < 0.9,
        ou_signal=np.sign(-ou) * (np.abs(ou) > 2),
        funding_z=np.repeat(rng.normal(0, 2, n // 500 + 1), 500)[:n],
        hurst=rng.uniform(0.3, 0.7, n),
        vpin=rng.uniform(0, 1, n),
        vpin_regime=rng.integers(0, 4, n),
        parkinson_vol=rng.uniform(1e-4, 2e-4, n),
        realized_vol=rng.uniform(1e-4, 2e-4, n),
        spread_bps=rng.uniform(0.1, 0.5, n),
        ensemble_direction=rng.normal(0, 1, n),
        ensemble_confidence=rng.uniform(0, 1, n),
        trade_side=rng.choice([-1, 1], n),
        cvd_z=rng.normal(0, 1, n),
    )
    if invalid:
        table = pq.read_table(path)
        pq.write_table(table.replace_schema_metadata({spans.METADATA_KEY: spans.encode(invalid)}), path)
    return path


def both_ways(paths, settings: ResearchSettings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """(edge, claims) from every row in memory, then from the reduced rows; and the two frames' sizes."""
    whole = load_features(paths)
    reduced = load_features(paths, (*EDGE_COLUMNS, *CLAIM_COLUMNS), reduction(settings))
    out = []
    for data in (whole, reduced):
        out.append(edge_table(data, settings.horizons, settings.costs, settings.boot, settings.sample_ms).table)
        out.append(claims_frame(claims_table(data, None, settings.boot, settings.sample_ms)))
    sizes = {"rows": (len(whole), len(reduced)), "counted": (whole.attrs["rows"], reduced.attrs["rows"])}
    sizes["spans"] = (whole.attrs["invalid_spans"], reduced.attrs["invalid_spans"])
    return *out, sizes  # type: ignore[return-value]


@pytest.mark.slow
def test_reduced_rows_give_the_whole_files_results(tmp_path, monkeypatch):
    monkeypatch.setattr(edge_module, "BATCH_ROWS", 777)  # many windows per file
    t0 = 1_700_000_000 * S
    a = busy_file(tmp_path / "a.parquet", 20_000, 1, t0, invalid=[(t0 + 100 * S, t0 + 103 * S)])
    b = busy_file(tmp_path / "b.parquet", 15_000, 2, t0 + 86_400 * S)
    settings = ResearchSettings(horizons=(1, 5), boot=QUICK, sample_ms=200.0)
    edge_whole, claims_whole, edge_reduced, claims_reduced, sizes = both_ways([a, b], settings)
    pd.testing.assert_frame_equal(edge_reduced, edge_whole)
    pd.testing.assert_frame_equal(claims_reduced, claims_whole)
    whole_rows, reduced_rows = sizes["rows"]
    assert reduced_rows < whole_rows / 2 and sizes["counted"] == (whole_rows, whole_rows)
    assert sizes["spans"][0] == sizes["spans"][1] and sizes["spans"][0]["rows_inside"] > 0
    # the claims that read every row were judged on these files, not left empty
    judged = claims_whole.set_index("id")
    assert judged.loc["ofi_r2", "n"] > 100 and judged.loc["ou_reversion", "n"] > 20
    assert judged.loc["hurst_vr_rank", "n"] > 20 and judged.loc["ensemble_gate", "n"] > 100


def test_reduced_rows_refuse_another_sampling(tmp_path):
    path = busy_file(tmp_path / "a.parquet", 3000, 1, 0)
    data = load_features([path], None, reduction(ResearchSettings(sample_ms=200.0)))
    with pytest.raises(ValueError, match="read for sample_ms 200"):
        edge_table(data, (1,), boot=QUICK, sample_ms=100.0)


@pytest.mark.real_data
@pytest.mark.slow
def test_reduced_rows_give_the_whole_files_results_on_a_real_capture(capture_paths, tmp_path, monkeypatch):
    path = record(load("usdm_2024_08", tuple(capture_paths("usdm_2024_08"))), tmp_path / "f.parquet")
    monkeypatch.setattr(edge_module, "BATCH_ROWS", 5000)
    edge_whole, claims_whole, edge_reduced, claims_reduced, sizes = both_ways([path], ResearchSettings(boot=QUICK))
    pd.testing.assert_frame_equal(edge_reduced, edge_whole)
    pd.testing.assert_frame_equal(claims_reduced, claims_whole)
    assert sizes["rows"][1] < sizes["rows"][0] / 2
