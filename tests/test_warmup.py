"""The numba warm-up at start (`warm_kernels`) drops the log records its own throwaway pipeline
makes (the synthetic book says nothing about the market: the LSTM's "no model file" warning, for
one), and nothing else: another thread logging through the same loggers meanwhile is heard."""

from __future__ import annotations

import logging
import threading

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.strategy.warmup import warm_kernels


def test_warm_up_silences_its_own_records_only(caplog):
    builder = BookSnapshotBuilder.for_instrument(SIM_SPEC.to_instrument())
    lstm_log = logging.getLogger("scalp_nautilus.models.lstm")
    done = threading.Event()

    def other_thread():
        while not done.is_set():
            lstm_log.warning("from another thread")
            done.wait(0.001)

    caplog.set_level(logging.DEBUG)
    worker = threading.Thread(target=other_thread)
    worker.start()
    try:
        warm_kernels(builder)
    finally:
        done.set()
        worker.join()
    main = threading.get_ident()
    assert any(r.thread != main and r.getMessage() == "from another thread" for r in caplog.records)
    assert not [r.getMessage() for r in caplog.records if r.thread == main and r.name.startswith("scalp_nautilus")]
    assert logging.root.manager.disable == logging.NOTSET  # nothing process-wide
    lstm_log.warning("after the warm-up")  # the filter is gone
    assert caplog.records[-1].getMessage() == "after the warm-up" and caplog.records[-1].thread == main
