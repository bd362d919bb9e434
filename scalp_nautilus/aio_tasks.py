"""Background asyncio tasks that live until they end and are cancelled together: a fire-and-forget
task would otherwise be garbage-collected mid-run or lose its exception unseen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable


class TaskSet:
    """`spawn` keeps a task until it ends; a task that fails is kept in `errors` and handed to
    `on_error` (the owner decides what a failure means: the capture stops), or logged under `name`
    when there is none; `cancel` cancels every task still running."""

    def __init__(
        self, name: str, log: logging.Logger, on_error: Callable[[asyncio.Task, BaseException], None] | None = None
    ) -> None:
        self.name = name
        self.errors: list[BaseException] = []
        self._log = log
        self._on_error = on_error
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro, name: str | None = None) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
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
            if self._on_error is not None:
                self._on_error(task, exc)
            else:
                self._log.error("%s: task failed", self.name, exc_info=exc)

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def wait_cancelled(self) -> None:
        """Cancel every task and wait until they have ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
