"""One logging path: the standard-library loggers of the maths layers write into Nautilus's logger.

The indicators, the feature pipeline and its book builder, the models and the strategy's helpers
(the funding ledger) know nothing of Nautilus and log through `logging` (skips, the LSTM's fallback
and accuracy guard). In a backtest or live node those records must land where the node's own
records go: its console and its log file. While attached (from the first `ScalpStrategy.on_start`
to the last `on_stop` of the process), a handler on those loggers forwards each record at INFO or
above to a Nautilus `Logger` named after the stdlib logger, and the records stop propagating to
the root logger (no second copy on the console). Nautilus's own level settings then filter them.

Other loggers (the backtest's progress lines, the importers, the replay venue) keep their
standard-library path.
"""

from __future__ import annotations

import logging

from nautilus_trader.common.component import Logger

# The layers a strategy runs; each name covers its sub-modules.
BRIDGED = (
    "scalp_nautilus.book",
    "scalp_nautilus.features",
    "scalp_nautilus.indicators",
    "scalp_nautilus.models",
    "scalp_nautilus.feature_recorder",
    "scalp_nautilus.strategy",
)


class NautilusLogHandler(logging.Handler):
    """Forwards each record to the Nautilus `Logger` of the record's logger name, at its level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self._loggers: dict[str, Logger] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            log = self._loggers.get(record.name)
            if log is None:
                log = self._loggers[record.name] = Logger(record.name)
            text = self.format(record)  # the message, and a traceback when there is one
            if record.levelno >= logging.ERROR:
                log.error(text)
            elif record.levelno >= logging.WARNING:
                log.warning(text)
            elif record.levelno >= logging.INFO:
                log.info(text)
            else:
                log.debug(text)
        except Exception:  # noqa: BLE001 - logging's contract: a failing handler reports, never raises
            self.handleError(record)


class _Bridge:
    """The process's one routing (Nautilus's logger is one per process too)."""

    def __init__(self) -> None:
        self.handler: NautilusLogHandler | None = None
        self.users = 0
        self.saved: dict[str, tuple[int, bool]] = {}  # logger name -> (level, propagate) before

    def attach(self) -> None:
        self.users += 1
        if self.users > 1:
            return
        self.handler = NautilusLogHandler()  # fresh: its Nautilus loggers belong to this run's kernel
        for name in BRIDGED:
            logger = logging.getLogger(name)
            self.saved[name] = (logger.level, logger.propagate)
            # INFO reaches Nautilus (which filters by its own level); DEBUG only if already
            # enabled: a debug call in a hot loop must stay a cheap no-op.
            logger.setLevel(min(logging.INFO, logger.getEffectiveLevel()))
            logger.propagate = False
            logger.addHandler(self.handler)

    def detach(self) -> None:
        if self.users == 0:
            return
        self.users -= 1
        if self.users:
            return
        for name in BRIDGED:
            logger = logging.getLogger(name)
            if self.handler is not None:
                logger.removeHandler(self.handler)
            level, propagate = self.saved.pop(name)
            logger.setLevel(level)
            logger.propagate = propagate
        self.handler = None


_BRIDGE = _Bridge()


def attach() -> None:
    """Route the bridged loggers into Nautilus's (counted: one per running strategy)."""
    _BRIDGE.attach()


def detach() -> None:
    """Undo one `attach`; the last one restores the loggers as they were."""
    _BRIDGE.detach()


def attached() -> bool:
    return _BRIDGE.users > 0
