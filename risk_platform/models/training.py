"""Shared training plumbing: a seeded Lightning Trainer (CPU by default, GPU when present) and a guard
that fails the run when a loss turns NaN or infinite (so nothing is registered and no alias moves)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import lightning as L
import torch

from risk_platform.errors import ComputationError


class FiniteLossGuard(L.Callback):
    """Raise :class:`ComputationError` as soon as a logged training loss is NaN or infinite."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        for name, value in trainer.callback_metrics.items():
            if name.startswith("train") and not torch.isfinite(torch.as_tensor(value)).all():
                raise ComputationError(f"{type(pl_module).__name__}: {name} became {float(value)} at epoch "
                                       f"{trainer.current_epoch}, batch {batch_idx}: training stopped")


def _quiet_lightning() -> None:
    """Lightning's start-up banners (GPU available, tips) are noise in logs of a scheduled job."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning"):  # mlflow imports the last
        logging.getLogger(name).setLevel(logging.WARNING)


def make_trainer(max_epochs: int, fast_dev_run: bool | int = False, gradient_clip_val: float | None = None,
                 callbacks: list[L.Callback] | None = None, max_seconds: float | None = None) -> L.Trainer:
    """A quiet, deterministic Trainer: no checkpoints, no logger, no progress bar. ``max_seconds``: a training-time
    budget (Lightning's ``max_time``, checked after every step: training stops at the first step past it; None =
    epochs only). A run stopped by the budget depends on the machine's speed, not only on the seed."""
    _quiet_lightning()
    return L.Trainer(
        max_epochs=max_epochs,
        max_time=None if max_seconds is None else timedelta(seconds=max_seconds),
        accelerator="auto",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        fast_dev_run=fast_dev_run,
        gradient_clip_val=gradient_clip_val,
        callbacks=[FiniteLossGuard(), *(callbacks or [])],
    )


def stopped_by_time_budget(trainer: L.Trainer) -> bool:
    """Whether the trainer's ``max_time`` budget (:func:`make_trainer`) ended its fit before ``max_epochs``."""
    from lightning.pytorch.callbacks import Timer

    remaining = [c.time_remaining() for c in trainer.callbacks if isinstance(c, Timer)]
    return any(r is not None and r <= 0 for r in remaining)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (and dataloader workers) for reproducible weights."""
    L.seed_everything(seed, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True, warn_only=True)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` intra-op torch threads (None: unchanged), restoring the previous setting afterwards.
    Small models train fastest single-threaded on a shared 2-core machine."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
