"""What the backtest and the live node load at import. `import scalp_nautilus.backtest.runner` took
4.2 s, 2.5 s of it arch (with statsmodels and matplotlib) and scipy.stats, pulled in by the report's
intervals although a backtest needs them only when it computes them; torch loads only when a model
is configured. Every `backtest`, Ray task and test subprocess pays what these modules import."""

from __future__ import annotations

from tests.support.process import run_python

# imported on first use only (scipy itself is not listed: numba, which the book needs, imports it)
LAZY = ("arch", "scipy.stats", "statsmodels", "matplotlib", "torch")


def test_backtest_and_live_imports_leave_the_statistics_libraries_unloaded():
    code = (
        "import sys\n"
        "import scalp_nautilus.backtest.runner, scalp_nautilus.backtest.sweep, scalp_nautilus.live.node\n"
        f"print('LOADED', ','.join(m for m in {LAZY!r} if m in sys.modules))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "LOADED", done.stdout
