"""SIGTERM during training: finish the step, write a checkpoint, stop.

Slurm (and most schedulers) send SIGTERM some seconds before SIGKILL at wall time. A
training loop run inside :class:`TermGuard` checks ``guard.requested`` after every
optimiser step; when set, it saves a mid-epoch checkpoint (weights, optimiser,
loop state, the epoch's random generators) atomically and raises :class:`Terminated`,
which the command reports as an ``Error:`` line naming the checkpoint. ``--resume``
continues from that very step and reaches the same weights as an uninterrupted run.
SIGKILL cannot be caught; it leaves the last complete checkpoint, never a half-written
one (writes are atomic).
"""

import signal
import threading

from ..errors import ToolkitError


class Terminated(ToolkitError):
    """Training stopped on SIGTERM after writing a checkpoint."""


class TermGuard:
    """Context manager: while active, SIGTERM sets ``requested`` instead of killing.

    Only the main thread can install signal handlers; elsewhere (a worker thread) the
    guard is inert and SIGTERM keeps its default action.
    """

    def __init__(self):
        self.requested = False
        self._old = None

    def _handler(self, signum, frame):
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handler)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


def stop(path, epoch, batch):
    """The exception to raise once the SIGTERM checkpoint is on disk."""
    return Terminated(f"stopped by SIGTERM at epoch {epoch + 1}, batch {batch + 1}; the checkpoint {path} holds "
                      "this step", hint="continue with the same command and --resume")
