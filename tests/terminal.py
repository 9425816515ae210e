"""Run a command in a real pseudo-terminal and answer its prompts, as a person would type.

``pty.fork`` makes the terminal the child's controlling terminal, so a hidden prompt
(getpass, click's ``hide_input``) really turns echo off: what the test types must not show
in what the terminal displayed.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import time


def run_in_terminal(
    argv: list[str], env: dict[str, str], answers: list[tuple[str, str]], timeout: float = 60
) -> tuple[int, str]:
    """Run ``argv``; for each (prompt text, answer) wait for the text on the terminal, then
    type the answer and Enter. Returns (exit status, everything the terminal displayed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is its stdin, stdout and stderr
        try:
            os.execvpe(argv[0], argv, env)  # noqa: S606 - our own test command
        finally:
            os._exit(127)
    shown = b""
    deadline = time.monotonic() + timeout
    pending = list(answers)
    searched = 0
    try:
        while True:
            if pending and pending[0][0].encode() in shown[searched:]:
                searched = shown.index(pending[0][0].encode(), searched) + len(pending[0][0])
                os.write(fd, pending.pop(0)[1].encode() + b"\r")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"waiting for {pending[:1]!r}; the terminal shows:\n{shown!r}")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")
