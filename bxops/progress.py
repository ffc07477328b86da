"""Live progress on the terminal while a playbook runs: per host its current task and counts."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from bxops.durations import clock
from bxops.playbook_events import EventRecorder

if TYPE_CHECKING:
    from rich.live import Live


class LiveProgress:
    """A rich Live view, shown only when the console is a terminal."""

    def __init__(self, console: Console, recorder: EventRecorder, title: str) -> None:
        self._console = console
        self._recorder = recorder
        self._title = title
        self._started = time.monotonic()
        self._live: Live | None = None

    def _render(self) -> Group:
        snapshot = self._recorder.snapshot()
        elapsed = clock(time.monotonic() - self._started)
        header = Text.assemble((self._title, "bold"), f"  {elapsed}  ", (snapshot.play, "cyan"))
        table = Table(box=None, pad_edge=False)
        table.add_column("host")
        table.add_column("current task", overflow="ellipsis", max_width=60)
        for name, style in (("ok", "green"), ("changed", "yellow"), ("failed", "red"), ("skipped", "dim")):
            table.add_column(name, justify="right", style=style)
        table.add_column("unreachable", justify="right", style="red")
        for host, (task, counts) in snapshot.hosts.items():
            table.add_row(
                host,
                task,
                *(str(counts.get(key, 0)) for key in ("ok", "changed", "failed", "skipped", "unreachable")),
            )
        return Group(header, table)

    def __enter__(self) -> LiveProgress:
        if self._console.is_terminal:
            from rich.live import Live  # its thread and terminal control: only for a terminal

            self._live = Live(self._render(), console=self._console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._render())

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, traceback)
            self._live = None
