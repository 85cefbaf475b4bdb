"""Ctrl-C from the first instant to the last: the command line's one SIGINT handler.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, and inside a module import
that is not always an exception we can catch. Measured on this project's 2-core CI machine (a sweep
interrupted 0.05-2.5 s after it started, tests/test_resume.py, and an import of torch/transformers/rich
interrupted at random): the interrupt came back wrapped in a ``RuntimeError`` (raised inside a class
body's ``__set_name__``), was swallowed (raised in a weakref callback of the import lock, so the program
went on as if nothing had happened), or made the interpreter end itself by SIGINT (exit -2) right after
our clean message. So, once `install` has run:

* the handler records the interrupt and raises ``KeyboardInterrupt`` as Python's own does, except inside
  `deferred` blocks (the heavy imports), whose end raises it instead, at a clean place;
* `raise_if_interrupted` at safe points (before a finished point is stored) stops a run whose interrupt a
  library swallowed, so no point measured after a Ctrl-C is stored;
* an exit hook registered before anything else (so it runs last) makes the exit status 130 however the
  unwinding ended, after every other exit hook (child processes, logging) has run.

Library use without the command line never installs the handler: `interrupted` then stays False.
This module imports only what the interpreter has loaded at start-up (``_signal``, not ``signal``, whose
enum classes take long enough to import that a Ctrl-C landed inside them, before the handler existed).
"""

from __future__ import annotations

import _signal
import atexit
import os
import sys


class _State:
    interrupted = False
    deferring = 0
    installed = False


def install() -> None:
    """Take over SIGINT where Python's own handler is in place (a shell that ignores SIGINT for
    background jobs is left alone, as Python leaves it)."""
    if _State.installed or _signal.getsignal(_signal.SIGINT) is not _signal.default_int_handler:
        return
    _State.installed = True
    atexit.register(_exit_interrupted)
    _signal.signal(_signal.SIGINT, _on_sigint)


def interrupted() -> bool:
    return _State.interrupted


def raise_if_interrupted() -> None:
    if _State.interrupted:
        raise KeyboardInterrupt


class deferred:  # noqa: N801 - used as a context manager, like contextlib's
    """Hold a Ctrl-C that lands inside the block until the block has finished (for imports, which an
    interrupt can leave half-made); the block's end raises it. (A class, not ``contextlib``: see above.)"""

    def __enter__(self) -> None:
        _State.deferring += 1

    def __exit__(self, *exc: object) -> None:
        _State.deferring -= 1
        if _State.deferring == 0 and exc[0] is None:
            raise_if_interrupted()


def _on_sigint(signum: int, frame: object) -> None:
    _State.interrupted = True
    if _State.deferring == 0:
        raise KeyboardInterrupt


def _exit_interrupted() -> None:
    if not _State.interrupted:
        return
    from joulebench.errors import EXIT_INTERRUPTED

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(EXIT_INTERRUPTED)  # skips only the interpreter's own teardown, which may end in SIGINT
