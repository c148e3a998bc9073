"""The checkpoint policy of a run: which of ``best.pt`` / ``last.pt`` / ``history.csv`` is written when, in one
object (like Lightning's ``ModelCheckpoint``, without the callbacks). ``fit`` tells it each validation score and
hands it each epoch's checkpoint; it decides the rest.

- ``best.pt``: written when the validation L1 improved, the weights only (no optimiser state: it is for evaluation
  and prediction);
- ``last.pt``: every epoch, with the optimiser state (what a resume needs), dropped by :meth:`finish` once the run
  is done (two thirds of an Adam checkpoint);
- ``history.csv``: every epoch, after ``last.pt``, rewritten from the checkpoint's own history.

The order is the guarantee: best.pt, then last.pt, then history.csv, each atomic. A kill between any two leaves a
folder that ``--resume`` continues exactly: last.pt never runs ahead of a missing best.pt, and history.csv is made
to agree with last.pt on resume (:meth:`resume`). The file formats are :mod:`depthutils.run_folder`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .run_folder import Checkpoint, CheckpointError, RunFolder, load_checkpoint

__all__ = ["CheckpointPolicy"]

#: Entries a checkpoint keeps apart from its state: added by save_checkpoint, or only what a resume needs.
_NOT_IN_WEIGHTS_ONLY = ("format", "state_sha256", "optimizer_state")


def _weights_only(ck: Mapping[str, Any]) -> dict[str, Any]:
    """``ck`` without its optimiser state (and without the format and checksum, which saving writes anew); the
    order of the other entries is kept, so the file is what it always was."""
    return {k: v for k, v in ck.items() if k not in _NOT_IN_WEIGHTS_ONLY}


class CheckpointPolicy:
    """When a run writes ``best.pt``, ``last.pt`` and ``history.csv``, and what each holds.

    ``best_val_l1``: the best validation L1 so far (``inf`` before the first; a resumed run's own). ``writer``:
    whether this process writes the folder (rank 0 under torchrun; the other ranks only train).
    """

    def __init__(self, run: RunFolder, *, best_val_l1: float = math.inf, writer: bool = True) -> None:
        self.run = run
        self.best_val_l1 = best_val_l1
        self.writer = writer
        self._improved = False  # the score given since the last save beat every earlier one

    @staticmethod
    def killed_after_first_best(run: RunFolder) -> bool:
        """best.pt of epoch 1 and nothing after it: a kill between the first epoch's best.pt and last.pt, which a
        plain ``--resume`` handles by training epoch 1 again (exact, and it rewrites best.pt)."""
        if run.results.exists() or not run.best.exists():
            return False
        try:
            return load_checkpoint(run.best)["epoch"] == 1
        except CheckpointError:
            return False

    def resume(self, ck: Checkpoint, *, validates: bool) -> None:
        """Make the folder agree with the checkpoint ``ck`` a run resumes from: history.csv may be behind or ahead
        of it after a kill; best.pt, if a user deleted it, is written again when ``ck``'s own epoch was the best
        (``validates``: the run has validation images, so a best exists)."""
        if not self.writer:
            return
        self.run.write_history(list(ck["history"]))
        if not self.run.best.exists() and validates and math.isfinite(self.best_val_l1):
            self._recreate_best(ck)

    def _recreate_best(self, ck: Checkpoint) -> None:
        """A kill between writing best.pt and last.pt cannot lose best.pt (best is written first), but a user may
        have deleted it: when last.pt's own epoch is the best one, write it again."""
        hist = [h for h in ck["history"] if h.get("val_l1") is not None]
        if hist and hist[-1]["val_l1"] <= ck["best_val_l1"]:
            self.run.save_checkpoint(self.run.best, _weights_only(ck))

    def observe(self, val_l1: float) -> bool:
        """Record this epoch's validation L1; True when it is a new best (best.pt is then written by :meth:`save`)."""
        self._improved = val_l1 < self.best_val_l1
        self.best_val_l1 = min(self.best_val_l1, val_l1)
        return self._improved

    def save(self, payload: dict[str, Any]) -> None:
        """Write one completed epoch: ``payload`` is its full checkpoint (weights, optimiser state, ``history``,
        ``best_val_l1``, ...). best.pt first when :meth:`observe` saw an improvement, then last.pt, then
        history.csv: a kill in between never leaves last.pt ahead of a missing best.pt."""
        if self._improved:
            self.run.save_checkpoint(self.run.best, _weights_only(payload))
        self._improved = False
        if self.writer:
            self.run.save_checkpoint(self.run.last, payload)
            self.run.write_history(payload["history"])

    def finish(self) -> None:
        """The run is finished: last.pt keeps its weights, not its optimiser state. Extending the run
        (``--resume --epochs`` more) then goes on with a fresh Adam state, and says so."""
        ck = load_checkpoint(self.run.last)
        if ck.get("optimizer_state") is not None:
            self.run.save_checkpoint(self.run.last, _weights_only(ck))
