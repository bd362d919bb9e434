"""The numba kernels are loaded in `on_start`, not on the first book batch (issue 15, defect 9: the
live node's first batch carried the numba cache load, about 0.4 s).

In a fresh process (kernels load once per process), every numba dispatcher of the indicators is
listed; a strategy runs 3 minutes of simulated market, and the signatures each dispatcher holds
right after `on_start` must be all it ever needs: none is added while the data flows."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.config_files import ROOT

SCRIPT = textwrap.dedent("""
    import importlib, json, pkgutil
    from numba.core.registry import CPUDispatcher
    import scalp_nautilus.indicators as pkg
    from tests import strategy_harness as h

    kernels = {}
    modules = [f"{pkg.__name__}.{info.name}" for info in pkgutil.iter_modules(pkg.__path__)]
    # the pipeline's batch kernel and the models' compiled parts (issue 22)
    modules += ["scalp_nautilus.features", "scalp_nautilus.models.ensemble", "scalp_nautilus.models.lstm"]
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.__module__ == module.__name__:
                kernels[f"{module_name.rsplit('.', 1)[-1]}.{name}"] = obj

    def signatures():
        return {name: sorted(map(str, k.signatures)) for name, k in kernels.items()}

    seen = {}

    class Probe(h.ScalpStrategy):
        def on_start(self):
            super().on_start()
            seen["after_start"] = signatures()

    instrument, events = h.simulated(3.0)
    engine = h.run_engine(instrument, events, [Probe(h.scalp_config(str(instrument.id)))])
    engine.dispose()
    print(json.dumps({"after_start": seen["after_start"], "after_run": signatures()}))
""")


@pytest.mark.slow
def test_no_kernel_loads_while_the_data_flows():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    used = {name for name, sigs in out["after_run"].items() if sigs}
    # the run exercises the kernels (else the test proves nothing): the batch kernel, which inlines
    # every feature's update, and the restarts and resets called from Python
    assert "features._batch" in used and len(used) >= 5, out["after_run"]
    added = {name: sorted(set(out["after_run"][name]) - set(out["after_start"][name])) for name in used}
    assert not any(added.values()), {k: v for k, v in added.items() if v}
