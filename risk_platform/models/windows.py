"""Training windows relative to the data: the evaluation split (train before it, score after it: the validation
evidence) counted back from the data's last date, and the production refit on every day up to that date.

The split is ``test_years`` (in whole months) before the last date. A history too short to hold that out keeps
``min_train_days`` dates for training and evaluates on what is left (``note`` says so); a history without
``min_train_days + min_eval_days`` dates is not evaluated (``train_end`` None, ``note`` the reason): the model
is trained on all of it and carries no validation metric, so no promotion gate can pass on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from risk_platform.errors import InputError


@dataclass(frozen=True)
class EvaluationSplit:
    """Where the evaluation fit stops (``train_end``, inclusive; None: not evaluated) and what it is scored on
    (the dates after it up to ``data_end``, the data's last date: also where the production refit stops).
    ``note``: why the held-out period is shorter than asked or absent (None when it is neither)."""

    data_start: pd.Timestamp
    train_end: pd.Timestamp | None
    data_end: pd.Timestamp
    note: str | None = None


def evaluation_split(dates: pd.Series | pd.DatetimeIndex, test_years: float, min_train_days: int,
                     min_eval_days: int) -> EvaluationSplit:
    """The split ``test_years`` before the last of ``dates`` (any dates of the data: the distinct ones count),
    shortened to keep ``min_train_days`` dates for training when the history is short (see the module)."""
    if test_years <= 0:
        raise InputError(f"test_years must be positive (got {test_years})")
    distinct = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(dates).dropna())).sort_values()
    if len(distinct) == 0:
        raise InputError("no dated rows: nothing to train or evaluate on")
    first, last = distinct[0], distinct[-1]
    if len(distinct) < min_train_days + min_eval_days:
        return EvaluationSplit(first, None, last,
                               f"history {first:%Y-%m-%d}..{last:%Y-%m-%d} too short to hold out: {len(distinct)}"
                               f" dates, need {min_train_days} to train and {min_eval_days} to evaluate")
    nominal = last - pd.DateOffset(months=round(test_years * 12))
    earliest = distinct[min_train_days - 1]
    if nominal >= earliest:
        return EvaluationSplit(first, nominal, last)
    held_out = int((distinct > earliest).sum())
    return EvaluationSplit(first, earliest, last,
                           f"history {first:%Y-%m-%d}..{last:%Y-%m-%d} too short to hold out {test_years:g} years:"
                           f" trained on its first {min_train_days} dates, evaluated on the {held_out} after"
                           f" {earliest:%Y-%m-%d}")


@dataclass(frozen=True)
class ValidationEvidence:
    """The evaluation fit behind a registered version: trained on ``train_start..train_end``, scored on
    ``evaluation_start..evaluation_end`` (its metrics are the version's metrics); ``note``: a shortened
    held-out period (empty when none)."""

    train_start: str
    train_end: str
    evaluation_start: str
    evaluation_end: str
    note: str = ""

    def params(self) -> dict[str, str]:
        """The registered version's params naming its validation window."""
        return {"validation_train_start": self.train_start, "validation_train_end": self.train_end,
                "evaluation_start": self.evaluation_start, "evaluation_end": self.evaluation_end,
                "evaluation_note": self.note or "none"}

