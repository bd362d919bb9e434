"""The numba warm-up at start (`warm_kernels`) drops the log records its own throwaway pipeline
makes (the synthetic book says nothing about the market: the LSTM's "no model file" warning, for
one), and nothing else: another thread logging through the same loggers meanwhile is heard (a
process-wide `logging.disable` silenced it too)."""

from __future__ import annotations

import logging
import threading

from scalp_nautilus.book import BookSnapshotBuilder
from scalp_nautilus.data.simulator import SIM_SPEC
from scalp_nautilus.features import FeaturePipeline
from scalp_nautilus.strategy.warmup import warm_kernels


def test_warm_up_silences_its_own_records_only(caplog, monkeypatch):
    builder = BookSnapshotBuilder.for_instrument(SIM_SPEC.to_instrument())
    lstm_log = logging.getLogger("scalp_nautilus.models.lstm")
    on_book = FeaturePipeline.on_book
    others: list[int] = []

    def during_warm_up(self, snapshot):
        if not others:  # the first synthetic batch: another thread logs while the warm-up runs
            worker = threading.Thread(target=lambda: lstm_log.warning("from another thread"))
            worker.start()
            worker.join()
            others.append(worker.ident)
        return on_book(self, snapshot)

    monkeypatch.setattr(FeaturePipeline, "on_book", during_warm_up)
    caplog.set_level(logging.DEBUG)
    warm_kernels(builder)
    main = threading.get_ident()
    assert [r.getMessage() for r in caplog.records if r.thread == others[0]] == ["from another thread"]
    assert not [r.getMessage() for r in caplog.records if r.thread == main and r.name.startswith("scalp_nautilus")]
    lstm_log.warning("after the warm-up")  # the filter is gone
    assert caplog.records[-1].getMessage() == "after the warm-up" and caplog.records[-1].thread == main
