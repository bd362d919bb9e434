"""Inference cost of the LSTM: batch-of-one latency per variant, and the pipeline's cost with it.

1. The network on one [1, seq_len, 21] window, p50 / p99 in microseconds, for each variant and
   torch thread count: eager under `torch.no_grad`, eager under `torch.inference_mode`, a
   TorchScript trace (frozen; deprecated in recent torch, measured for comparison), optionally
   `torch.compile` (`--compile`: ~20 s of compiling with a C++ compiler), and the predictor's
   whole `update_raw` (window, inference, guard) with the model and on the fallback.
2. The feature pipeline per book batch on a real capture (`bench_features.run`: builder +
   indicators), with the predictor on the fallback, with the model on every batch (cadence 0),
   and at its default 100 ms cadence.

    PYTHONPATH=. python bench/bench_lstm.py [--model models/x.pt] [--calls 3000] [--repeat 3] [--compile]

Without `--model` a randomly initialised network of the default size is used: the cost does not
depend on the weights. The machine is shared: each measurement runs `--repeat` times and the
pass with the lowest p99 is shown; mind the load average printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_features import line  # noqa: E402
from bench_features import run  # noqa: E402

from scalp_nautilus.indicators.settings import LSTMSettings  # noqa: E402
from scalp_nautilus.models import LSTMPredictor  # noqa: E402
from scalp_nautilus.models.model_file import load_model  # noqa: E402
from scalp_nautilus.models.model_file import save_model  # noqa: E402
from scalp_nautilus.models.net import LOBNet  # noqa: E402
from tests.support.captures import load  # noqa: E402
from tests.support.shared_data import CAPTURES  # noqa: E402
from tests.support.shared_data import shared_data_dir  # noqa: E402

MS = 1_000_000


def timed(call, calls: int, repeat: int) -> np.ndarray:
    """Microseconds per call of the least disturbed pass (lowest p99)."""
    for _ in range(200):
        call()
    passes = []
    clock = time.perf_counter_ns
    for _ in range(repeat):
        ts = np.empty(calls)
        for i in range(calls):
            t0 = clock()
            call()
            ts[i] = clock() - t0
        passes.append(ts / 1e3)
    return min(passes, key=lambda us: np.percentile(us, 99))


def latency(model_path: Path, calls: int, repeat: int, compile_too: bool) -> None:
    net = load_model(model_path).net
    seq_len = load_model(model_path).seq_len
    x = torch.randn(1, seq_len, 21)

    class Predict(torch.nn.Module):  # tracing records `forward`; the usable outputs are `predict`
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, window):
            return self.net.predict(window)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation and tracer warnings
        traced = torch.jit.freeze(torch.jit.trace(Predict().eval(), x))

    def no_grad():
        with torch.no_grad():
            net.predict(x)

    def inference():
        with torch.inference_mode():
            net.predict(x)

    def trace():
        with torch.inference_mode():
            traced(x)

    variants = {"eager, no_grad": no_grad, "eager, inference_mode": inference, "TorchScript trace + freeze": trace}
    if compile_too:
        compiled = torch.compile(Predict().eval())
        t0 = time.perf_counter()
        with torch.inference_mode():
            compiled(x)
        print(f"torch.compile: first call (compiling) {time.perf_counter() - t0:.1f} s")

        def compiled_call():
            with torch.inference_mode():
                compiled(x)

        variants["torch.compile (inductor)"] = compiled_call
    vectors = np.random.default_rng(0).normal(size=(calls + 256, 21))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(f"network, batch of one [1, {seq_len}, 21], torch threads {threads}:")
        for name, call in variants.items():
            print(line(name, timed(call, calls, repeat)))
        for name, path in (("LSTMPredictor.update_raw, model", str(model_path)), ("LSTMPredictor.update_raw, fallback", None)):
            # min_accuracy 0: the guard off. At its default it switches a model that is no better
            # than chance off after 500 scored calls, and the "model" line then timed the fallback
            # (1,232 model calls of 9,000 in the first version of this bench)
            predictor = LSTMPredictor(
                LSTMSettings(model_path=path, cadence_ms=0.0, torch_threads=threads, min_accuracy=0.0), seq_len=seq_len
            )
            step = iter(range(10**9))

            def update(step=step, predictor=predictor):
                i = next(step)
                predictor.update_raw(vectors[i % len(vectors)], 100.0 + 0.01 * (i % 7), i * MS)

            us = timed(update, calls, repeat)
            made = next(step)  # calls so far: the warm-up's and every pass's
            print(line(name, us) + f"   {predictor.predictions:,} of {made:,} calls ran the model")


def pipeline_cost(model_path: Path, captures: list[str], repeat: int) -> None:
    data = shared_data_dir()
    if data is None:
        print("real exchange data not found: pipeline cost skipped (set SCALP_SHARED_DATA)")
        return
    for name in captures:
        capture = load(name, tuple(data / "binance-futures" / f for f in CAPTURES[name]))
        # min_accuracy 0: the guard would switch a random network off after 500 calls, and this
        # measures what the model costs, not what it knows
        setups = {
            "fallback (no model)": LSTMSettings(),
            "model, every batch (cadence 0)": LSTMSettings(model_path=str(model_path), cadence_ms=0.0, min_accuracy=0.0),
            "model, cadence 100 ms (default)": LSTMSettings(model_path=str(model_path), min_accuracy=0.0),
        }
        run(capture, 10, limit=20_000, lstm=LSTMPredictor(setups["model, every batch (cadence 0)"]))  # warm-up
        print(f"{name}: pipeline per book batch (builder + indicators), microseconds")
        for label, settings in setups.items():
            passes = []
            for _ in range(repeat):
                predictor = LSTMPredictor(settings)
                passes.append(run(capture, 10, lstm=predictor)["batch"])
            us = min(passes, key=lambda v: np.percentile(v, 99))
            print(line(label, us) + f"   mean {us.mean():.1f}, {predictor.predictions} model predictions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model file (default: a random network of the default size)")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to compile)")
    parser.add_argument("--captures", nargs="*", default=["usdm_2024_08"], choices=list(CAPTURES))
    args = parser.parse_args()
    print(f"torch {torch.__version__}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        model_path = args.model
        if model_path is None:
            torch.manual_seed(0)
            model_path = save_model(
                Path(tmp) / "random.pt", LOBNet(), {"seq_len": 50, "horizon": 50, "alpha": 2e-5, "majority_class": 1}
            )
        latency(model_path, args.calls, args.repeat, args.compile)
        pipeline_cost(model_path, args.captures, args.repeat)


if __name__ == "__main__":
    main()
