"""Background asyncio tasks that live until they end and are cancelled together: a fire-and-forget
task would otherwise be garbage-collected mid-run or lose its exception unseen."""

from __future__ import annotations

import asyncio
import logging


class TaskSet:
    """`spawn` keeps a task until it ends; a task that fails is logged under `name` and kept in
    `errors`; `cancel` cancels every task still running."""

    def __init__(self, name: str, log: logging.Logger) -> None:
        self.name = name
        self.errors: list[BaseException] = []
        self._log = log
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.errors.append(exc)
            self._log.error("%s: task failed", self.name, exc_info=exc)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
