"""Reading ahead: an iterator's next items fetched by a thread while the caller works.

An order import reads a marketplace's next page while it writes this one; the product import
parses a feed's next block while it writes this one.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

_DONE = object()


def prefetch(pages: Iterator[Any], depth: int = 1, name: str = "page-prefetch") -> Iterator[Any]:
    """``pages``, read ahead by a thread: while the caller writes page n, page n+1 is fetched
    (and normalised). At most ``depth`` pages wait, so memory stays flat. An error of the
    reader is raised to the caller at the page it failed on; a caller that stops early (or
    fails) stops the reader at its next page. (The product import reads its feed's blocks
    through it too: ``name`` names the thread.)"""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for page in pages:
                if not put((page, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            put((None, exc))
            return
        put((_DONE, None))

    reader = threading.Thread(target=read, name=name, daemon=True)
    reader.start()
    try:
        while True:
            page, error = ahead.get()
            if error is not None:
                raise error
            if page is _DONE:
                return
            yield page
    finally:
        stop.set()
        reader.join(timeout=30)
