"""Column-by-column comparison of feature rows with the oracle's."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def column_differences(expected: list[tuple], fields: tuple[str, ...], table: pa.Table) -> dict[str, str]:
    """{column: what differs} for every column of `table` that is not bit-identical to the oracle's
    rows (NaN equals NaN); a different row count or column set is reported under "rows" / "columns"."""
    if table.num_rows != len(expected):
        return {"rows": f"{table.num_rows} rows, the oracle has {len(expected)}"}
    if tuple(table.column_names) != fields:
        return {"columns": f"{table.column_names} != {list(fields)}"}
    out = {}
    for j, name in enumerate(fields):
        want = [row[j] for row in expected]
        got = table.column(name).to_pylist()
        if isinstance(want[0], float):
            a, b = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            if not same.all():
                diff = np.abs(a - b)
                rel = diff / np.maximum(np.abs(b), np.finfo(float).tiny)
                i = int(np.nanargmax(np.where(same, -1.0, rel)))
                out[name] = (
                    f"{int((~same).sum())} rows differ; largest relative difference {rel[i]:.3g} "
                    f"(row {i}: {a[i]!r} vs the oracle's {b[i]!r})"
                )
        elif got != want:
            i = next(k for k, (x, y) in enumerate(zip(got, want)) if x != y)
            out[name] = f"{sum(x != y for x, y in zip(got, want))} rows differ (first: row {i}, {got[i]!r} vs {want[i]!r})"
    return out
