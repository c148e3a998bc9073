"""The checkpoint policy: which file is written when (best.pt on a validation improvement, then last.pt, then
history.csv), a rank that does not write, and the resumes after a kill. The checkpoints are a few tensors."""

from __future__ import annotations

import torch

from depthutils.checkpointing import CheckpointPolicy
from depthutils.run_folder import RunFolder, load_checkpoint, read_history


def _payload(epoch: int, history: list[dict], best: float) -> dict:
    """An epoch's checkpoint as fit hands it to the policy: weights, optimiser state, history, best so far."""
    return {
        "model_name": "m",
        "model_state": {"w": torch.full((2,), float(epoch))},
        "optimizer_state": {"state": {0: {"step": torch.tensor(float(epoch))}}, "param_groups": []},
        "epoch": epoch,
        "history": history,
        "best_val_l1": best,
        "train_time_s": 1.0 * epoch,
    }


def _epochs(policy: CheckpointPolicy, val_l1: list[float | None]) -> list[dict]:
    """Drive the policy as fit's loop does: observe each evaluated epoch's score, then save the epoch."""
    history: list[dict] = []
    for epoch, v in enumerate(val_l1, 1):
        row = {"epoch": epoch, "train_loss": 0.5}
        if v is not None:
            row["val_l1"] = v
            policy.observe(v)
        history.append(row)
        policy.save(_payload(epoch, history, policy.best_val_l1))
    return history


def test_policy_writes_best_on_improvement_before_last_then_history(tmp_path, monkeypatch):
    run = RunFolder(tmp_path / "r")
    order = []
    real_save, real_history = RunFolder.save_checkpoint, RunFolder.write_history
    monkeypatch.setattr(
        RunFolder, "save_checkpoint", lambda self, p, ck: order.append((ck["epoch"], p.name)) or real_save(self, p, ck)
    )
    monkeypatch.setattr(
        RunFolder, "write_history", lambda self, h: order.append((len(h), "history")) or real_history(self, h)
    )
    policy = CheckpointPolicy(run)
    _epochs(policy, [0.3, None, 0.4, 0.2])
    assert order == [
        (1, "best.pt"),
        (1, "last.pt"),
        (1, "history"),
        (2, "last.pt"),  # not evaluated: no best
        (2, "history"),
        (3, "last.pt"),  # worse: no best
        (3, "history"),
        (4, "best.pt"),
        (4, "last.pt"),
        (4, "history"),
    ]
    best, last = load_checkpoint(run.best), load_checkpoint(run.last)
    assert best["epoch"] == 4 and "optimizer_state" not in best and best["best_val_l1"] == 0.2
    assert last["optimizer_state"] is not None and last["epoch"] == 4
    assert [r["epoch"] for r in read_history(run.history)] == [1, 2, 3, 4]
    policy.finish()  # a finished run's last.pt keeps the weights only
    done = load_checkpoint(run.last)
    assert "optimizer_state" not in done and torch.equal(done["model_state"]["w"], last["model_state"]["w"])


def test_policy_of_a_rank_that_does_not_write(tmp_path):
    run = RunFolder(tmp_path / "r")
    _epochs(CheckpointPolicy(run, writer=False), [None, None])  # ranks other than 0 never evaluate nor write
    assert not run.path.exists() or not any(run.path.iterdir())


def test_resume_recreates_a_deleted_best_only_when_last_was_the_best(tmp_path):
    run = RunFolder(tmp_path / "r")
    _epochs(CheckpointPolicy(run), [0.3, 0.2])
    ck = load_checkpoint(run.last)
    run.best.unlink()
    run.history.write_text("epoch\n")  # behind the checkpoint, as after a kill
    CheckpointPolicy(run, best_val_l1=ck["best_val_l1"]).resume(ck, validates=True)
    assert load_checkpoint(run.best)["epoch"] == 2 and len(read_history(run.history)) == 2

    other = RunFolder(tmp_path / "o")
    _epochs(CheckpointPolicy(other), [0.2, 0.3])  # epoch 2 is worse: best.pt (epoch 1) cannot be rebuilt
    ck = load_checkpoint(other.last)
    other.best.unlink()
    CheckpointPolicy(other, best_val_l1=ck["best_val_l1"]).resume(ck, validates=True)
    assert not other.best.exists()


def test_a_kill_between_the_first_best_and_last_is_recognised(tmp_path):
    run = RunFolder(tmp_path / "r")
    assert not CheckpointPolicy.killed_after_first_best(run)
    _epochs(CheckpointPolicy(run), [0.3])
    run.last.unlink()  # as if killed right after best.pt of epoch 1
    assert CheckpointPolicy.killed_after_first_best(run)
    run.best.write_bytes(b"garbage")
    assert not CheckpointPolicy.killed_after_first_best(run)
