"""The registered model names: one definition, light to import (the registry itself imports MLflow)."""

REGISTERED_PREFIX = "risk_platform-"


def registered_name(model_key: str) -> str:
    """The registered model name of a family key: ``risk_platform-<key>``."""
    return f"{REGISTERED_PREFIX}{model_key}"
