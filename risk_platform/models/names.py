"""The registered model names, the version tags and the training-window text: one definition each, light to
import (the registry itself imports MLflow)."""

from __future__ import annotations

from collections.abc import Mapping

REGISTERED_PREFIX = "risk_platform-"


def registered_name(model_key: str) -> str:
    """The registered model name of a family key: ``risk_platform-<key>``."""
    return f"{REGISTERED_PREFIX}{model_key}"


TRAINING_WINDOW_PARAMS = ("train_start", "train_end", "validation_train_start", "validation_train_end",
                          "evaluation_start", "evaluation_end", "evaluation_note")  # what `risk-platform models` shows
ARTIFACT_HASH_TAG = "artifact_sha256"  # version tag: JSON {relative path: sha256} of the logged model's files
VALIDATION_RUN_TAG = "validation_run_id"  # version tag: the latest validation run of the version (the promotion's)
VALIDATION_STATUS_TAG = "validation_status"  # version tag: ``passed`` or ``refused``, the latest promotion decision
ALIAS_HISTORY_TAG = "alias_history"  # version tag: the latest alias move to the version, in words
VERSION_TAGS = (ARTIFACT_HASH_TAG, VALIDATION_RUN_TAG, VALIDATION_STATUS_TAG, ALIAS_HISTORY_TAG)  # all a version has


def training_window_text(params: Mapping[str, str | None]) -> str:
    """A version's training window in words from its run's :data:`TRAINING_WINDOW_PARAMS` (``?`` when a version
    predates them): ``trained on A..B; evaluated: trained C..D, scored E..F`` and the evaluation note, if any."""
    evaluated = (f"; evaluated: trained {params.get('validation_train_start')}..{params.get('validation_train_end')},"
                 f" scored {params.get('evaluation_start')}..{params.get('evaluation_end')}"
                 if params.get("evaluation_start") not in (None, "none") else "")
    note = f" ({params['evaluation_note']})" if params.get("evaluation_note") not in (None, "none") else ""
    return (f"trained on {params.get('train_start') or '?'}..{params.get('train_end') or '?'}{evaluated}{note}")
