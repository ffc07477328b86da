"""The live progress display, as a user at a terminal sees it: a real playbook through `runner.py run`
on a pseudo-terminal, and the same run with its output going to files (plain text, no escape codes)."""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass, field

from .conftest import RUNNER, Workspace

SLEEP = 3  # the audit role's task "Wait a known time" lasts this long: the display refreshes meanwhile
COLUMNS, ROWS = 200, 60
_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
_ESCAPE = "\x1b"
#: A row of the live table: host, current task, ok, changed, failed, skipped, unreachable.
_HOST_ROW = re.compile(r"^(\S+) +(.+?) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+)$")
_COUNTS = ("ok", "changed", "failed", "skipped", "unreachable")


class Terminal:
    """Just enough of a terminal to replay what rich writes: text, CR, LF, cursor up, erase in line.

    `frames`: the screen as it was each time before output started to overwrite it (rich redraws the
    live display by going up and erasing its lines), and at the end.
    """

    def __init__(self) -> None:
        self.lines: list[str] = [""]
        self.row = 0
        self.col = 0
        self.frames: list[list[str]] = []
        self._written = False  # text since the last frame

    def feed(self, text: str) -> None:
        position = 0
        for match in _CSI.finditer(text):
            self._text(text[position : match.start()])
            self._control(match[1], match[2])
            position = match.end()
        self._text(text[position:])

    def _text(self, text: str) -> None:
        for char in text:
            if char == "\r":
                self.col = 0
            elif char == "\n":
                self.row += 1
                while len(self.lines) <= self.row:
                    self.lines.append("")
            else:
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[: self.col] + char + line[self.col + 1 :]
                self.col += 1
                self._written = True

    def _control(self, params: str, final: str) -> None:
        count = int(params) if params.isdigit() else 0
        if final in "AK" and self._written:
            self.end_frame()
        if final == "A":  # cursor up
            self.row = max(0, self.row - (count or 1))
        elif final == "K":  # erase in line: 0 to the end, 1 to the cursor, 2 all of it
            line = self.lines[self.row]
            self.lines[self.row] = {0: line[: self.col], 1: " " * self.col + line[self.col + 1 :]}.get(count, "")
        # colours (m) and showing or hiding the cursor (?25h / ?25l) leave the text as it is

    def screen(self) -> list[str]:
        return [line.rstrip() for line in self.lines]

    def end_frame(self) -> None:
        self.frames.append(self.screen())
        self._written = False


@dataclass
class LiveRow:
    header: str
    host: str
    task: str
    counts: dict[str, int]


@dataclass
class TerminalRun:
    code: int
    frames: list[list[str]] = field(default_factory=list)  # what the terminal showed, in order
    raw: str = ""  # everything written to the terminal
    stdout: str | None = None  # when stdout went to a pipe

    @property
    def final_screen(self) -> list[str]:
        return self.frames[-1]

    def live_rows(self, host: str = "localhost") -> list[LiveRow]:
        """The live table's row of `host` on each screen that shows the table, in order."""
        rows: list[LiveRow] = []
        for screen in self.frames:
            for index, line in enumerate(screen):
                if not line.startswith("host ") or "current task" not in line:
                    continue
                for candidate in screen[index + 1 :]:
                    match = _HOST_ROW.match(candidate)
                    if match and match[1] == host:
                        counts = dict(zip(_COUNTS, map(int, match.groups()[2:]), strict=True))
                        rows.append(LiveRow(screen[index - 1], host, match[2], counts))
                        break
        return rows


def _terminal_env(ws: Workspace) -> dict[str, str]:
    env = ws.env(TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CI"):
        env.pop(name, None)  # let rich decide from the file descriptors alone
    return env


def run_on_terminal(ws: Workspace, *args: str, stdout_on_terminal: bool = True) -> TerminalRun:
    """runner.py with stderr (and stdout, unless told) on a pseudo-terminal; the screen after each write."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    process = subprocess.Popen(
        [sys.executable, str(RUNNER), *args],
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_on_terminal else subprocess.PIPE,
        stderr=slave,
        env=_terminal_env(ws),
        text=True,
    )
    os.close(slave)
    terminal, result = Terminal(), TerminalRun(code=-1)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 120)
            assert ready, "runner.py wrote nothing for two minutes"
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every end of the terminal's other side is closed
                break
            if not data:
                break
            text = decoder.decode(data)
            result.raw += text
            terminal.feed(text)
        terminal.end_frame()
        result.frames = terminal.frames
        if not stdout_on_terminal:
            assert process.stdout is not None
            result.stdout = process.stdout.read()
        result.code = process.wait(timeout=60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
    return result


def test_live_display_shows_each_host_task_and_counts_while_it_runs(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    run = run_on_terminal(ws, "run", "t1", "staging", "tiny", "-e", f"tiny_sleep={SLEEP}")
    assert run.code == 0, run.raw
    rows = run.live_rows()
    assert rows, f"no live table on the terminal:\n{run.raw!r}"

    # While the audit role's long task runs, the table names it for localhost with the counts so far:
    # the assert task ok, the include ok, the fail task skipped; nothing changed or failed yet.
    waiting = [row for row in rows if row.task == "Wait a known time"]
    assert waiting, [row.task for row in rows]
    assert all(row.counts == {"ok": 2, "changed": 0, "failed": 0, "skipped": 1, "unreachable": 0} for row in waiting)
    assert all(row.header.startswith("t1 · tiny @staging  0:00:") for row in waiting)
    assert all(row.header.endswith("Tiny audit") for row in waiting)  # the play
    clocks = {row.header.split()[4] for row in waiting}  # "t1 · tiny @staging  0:00:02  Tiny audit"
    assert len(clocks) >= 2, f"the elapsed time did not move while the task ran: {clocks}"

    # The last state shown: the set_stats task, the sleep counted as changed.
    assert rows[-1].task == "Hand audit data over"
    assert rows[-1].counts == {"ok": 4, "changed": 1, "failed": 0, "skipped": 1, "unreachable": 0}

    # The live display showed before the run's summary existed, and then made room for it.
    first_live = run.raw.index("current task")
    assert first_live < run.raw.index("succeeded")
    screen = "\n".join(run.final_screen)
    assert "current task" not in screen and "Wait a known time (audit)" in screen
    assert re.search(r"run #1 t1 tiny @staging: succeeded in 0:00:\d\d, billed 0\.25 h as maintenance", screen)
    assert re.search(r"localhost +4 +1 +0 +0 +1 +0 +0", screen)  # per-host stats of the run
    assert "remaining" in screen and "allotment" in screen  # and the pool's balance
    assert _ESCAPE in run.raw  # a terminal gets colours


def test_output_to_a_file_is_plain_while_the_terminal_keeps_the_live_display(sqlite_workspace: Workspace) -> None:
    """`runner.py run … > run.log` at a terminal: the log is plain text, progress stays on the terminal."""
    ws = sqlite_workspace
    run = run_on_terminal(ws, "run", "t1", "staging", "tiny", "-e", "tiny_sleep=1", stdout_on_terminal=False)
    assert run.code == 0, run.raw
    assert run.stdout is not None
    assert _ESCAPE not in run.stdout
    assert run.stdout.startswith("run #1 t1 tiny @staging: succeeded in ")
    assert re.search(r"^ localhost +4 +1 +0 +0 +1 +0 +0 *$", run.stdout, re.MULTILINE)
    assert "changed: 1 task result(s)\n  localhost: Wait a known time (audit)\n" in run.stdout
    assert "remaining" in run.stdout
    assert any(row.task for row in run.live_rows())  # stderr is the terminal: the live table was there


def test_without_a_terminal_there_is_no_live_display_and_no_escape_code(sqlite_workspace: Workspace) -> None:
    done = subprocess.run(
        [sys.executable, str(RUNNER), "run", "t1", "staging", "tiny", "-e", "tiny_sleep=1"],
        env=_terminal_env(sqlite_workspace),  # TERM says xterm: only the pipes tell rich there is no terminal
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert _ESCAPE not in done.stdout and _ESCAPE not in done.stderr
    assert "current task" not in done.stderr  # no progress frames in a log
    assert re.match(r"run #1 t1 tiny @staging \(estimate 0\.25 h, [\d.]+ h remaining\)\n$", done.stderr)
    assert done.stdout.startswith("run #1 t1 tiny @staging: succeeded in ")
    assert re.search(r"^ localhost +4 +1 +0 +0 +1 +0 +0 *$", done.stdout, re.MULTILINE)
