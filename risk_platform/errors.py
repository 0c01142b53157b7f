"""Error types shared by the library, the CLI and the Dagster assets."""


class InputError(ValueError):
    """Bad input: a file, row or symbol that cannot be used. The message is one line and names it."""


class GateFailedError(RuntimeError):
    """The input was valid but a quality or risk gate failed."""


class ComputationError(RuntimeError):
    """A computation could not produce a defined result (e.g. too little history)."""


class RegistryUnavailable(ComputationError):
    """The MLflow tracking store / registry could not be read (server down, store unreadable)."""


class LeakageError(ComputationError):
    """A held-out rule was broken: a training row or target dated on or after the window it is validated on."""


class BusyError(RuntimeError):
    """Another run holds the lock of a step that must not interleave (the main job, a promotion)."""
