"""Training the LSTM with Lightning (:func:`fit_network`): the loss module, the data module and the epoch history.
Kept apart from :mod:`risk_platform.models.lstm` so that forecasting with a registered version (the risk engine,
``backtest --method lstm``) does not import Lightning."""

from __future__ import annotations

import time

import lightning as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from risk_platform.models.lstm import QUANTILES, LSTMConfig, Sequences, VolRegimeLSTM, scaled_inputs
from risk_platform.models.training import make_trainer, seed_everything, torch_threads


def fit_network(train: Sequences, config: LSTMConfig, fast_dev_run: bool = False
                ) -> tuple[VolRegimeLSTM, list[dict], float]:
    """Train a seeded :class:`VolRegimeLSTM` on ``train``: the network, its epoch-mean losses, the seconds taken."""
    seed_everything(config.seed)
    net = VolRegimeLSTM(config.hidden, config.layers, train.x.shape[-1])
    history = EpochHistory()
    started = time.perf_counter()
    with torch_threads(config.torch_threads):
        make_trainer(config.epochs, fast_dev_run=fast_dev_run, gradient_clip_val=1.0, callbacks=[history],
                     max_seconds=config.max_train_seconds).fit(
            LSTMVolModule(net, config), datamodule=VolSequenceDataModule(train, config.batch_size, config.seed))
    return net, history.rows, time.perf_counter() - started


class LSTMVolModule(L.LightningModule):
    """QLIKE + regime cross-entropy + pinball loss on the interval head, on windows scaled by their own scale."""

    def __init__(self, net: VolRegimeLSTM, config: LSTMConfig) -> None:
        super().__init__()
        self.net = net
        self.config = config
        self.quantiles = torch.tensor(QUANTILES)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        x, r2, regime, rv5 = batch
        z, s = scaled_inputs(x)
        s2 = s * s
        log_h, logits, log_q = self.net(z)
        qlike = (log_h + r2 / s2 * torch.exp(-log_h)).mean()
        ce = nn.functional.cross_entropy(logits, regime, ignore_index=-100)
        diff = torch.log(rv5 / s2 + 1e-6).unsqueeze(-1) - log_q
        pinball = torch.maximum(self.quantiles * diff, (self.quantiles - 1) * diff).mean()
        loss = qlike + self.config.regime_weight * ce + self.config.interval_weight * pinball
        self.log_dict({"train_loss": loss, "train_qlike": qlike, "train_regime_ce": ce, "train_pinball": pinball},
                      on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.config.lr)


class VolSequenceDataModule(L.LightningDataModule):
    """Serves training sequences (x, r2, regime, rv5) in shuffled, seeded batches."""

    def __init__(self, train: Sequences, batch_size: int, seed: int) -> None:
        super().__init__()
        self.train = train
        self.batch_size = batch_size
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        t = self.train
        dataset = TensorDataset(torch.from_numpy(t.x), torch.from_numpy(np.nan_to_num(t.r2)),
                                torch.from_numpy(t.regime).long(), torch.from_numpy(np.nan_to_num(t.rv5)))
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(self.seed))


class EpochHistory(L.Callback):
    """Keeps the epoch-mean training losses for the loss-curve plot."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        self.rows.append({"epoch": trainer.current_epoch,
                          **{k.removesuffix("_epoch"): float(v) for k, v in metrics.items() if k.endswith("_epoch")}})
