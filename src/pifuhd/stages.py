"""Who wants to hear that a stage of the work has started (a web page's progress, a log).

The pipeline calls :func:`notify_stage` as each stage starts (``pifuhd.runtime.timed_stage``
does it for every timed stage of a reconstruction; the avatar pipeline for its own). A caller
that wants the names wraps its work in :func:`listen_stages`. The listener lives in a context
variable, so each thread (each job of ``pifuhd serve``) hears only its own stages.

>>> heard = []
>>> with listen_stages(heard.append):
...     notify_stage("encode")
>>> heard
['encode']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

StageListener = Callable[[str], None]

_listener: ContextVar[StageListener | None] = ContextVar("pifuhd_stage_listener", default=None)


def notify_stage(name: str) -> None:
    """Tell this context's listener, if any, that stage ``name`` starts now."""
    listener = _listener.get()
    if listener is not None:
        listener(name)


@contextmanager
def listen_stages(listener: StageListener) -> Iterator[None]:
    """Send the names of the stages started inside the block to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
