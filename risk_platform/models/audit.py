"""The append-only audit log of alias moves (MLflow keeps no history of them) and the reconciliation of the
registry's aliases with it.

Aliases move only through :func:`risk_platform.models.governance.move_alias`, which logs the move first. An
alias the registry holds that the log does not account for (moved or deleted through MLflow's UI or REST API)
is an *unaudited move*: :func:`reconcile_aliases` refuses it, so readers use the version the log last moved the
alias to (or no version when the log never moved it), and reports it for a failed check, an alert and a record.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from risk_platform.errors import InputError
from risk_platform.io import append_line, read_json_lines

UNAUDITED_EVENT = "unaudited_alias_move"  # an alias found where the log does not put it (refused, recorded)
RESTORED_EVENT = "alias_restored"  # a promotion run put an unaudited alias back where the log puts it


@dataclass(frozen=True)
class AuditRecord:
    """One line of the audit log: an alias move (``event='alias_move'``) or a monitoring result."""

    time: str
    event: str
    model: str
    alias: str | None
    from_version: str | None
    to_version: str | None
    reason: str
    validation_run_id: str | None
    actor: str


class AuditLog:
    """Append-only JSON-lines file: records are only ever added (one ``write`` of a whole line, fsynced)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def append(self, record: AuditRecord) -> AuditRecord:
        append_line(self.path, json.dumps(asdict(record), sort_keys=True))
        return record

    def records(self, model: str | None = None) -> list[AuditRecord]:
        if not self.path.exists():
            return []
        out = []
        for number, value in read_json_lines(self.path, "an audit record"):
            try:
                record = AuditRecord(**value)
            except TypeError:
                raise InputError(f"{self.path} line {number}: not an audit record") from None
            if model is None or record.model == model:
                out.append(record)
        return out

    def aliases(self, model: str) -> dict[str, str]:
        """alias -> version as the logged moves of ``model`` left them (what the registry should hold)."""
        out: dict[str, str] = {}
        for record in self.records(model):
            if record.event == "alias_move" and record.alias:
                if record.to_version is None:
                    out.pop(record.alias, None)
                else:
                    out[record.alias] = str(record.to_version)
        return out


@dataclass(frozen=True)
class UnauditedMove:
    """An alias of ``model`` the registry holds at ``found`` (None: deleted) where the audit log puts it at
    ``audited`` (None: the log never moved it there)."""

    model: str
    alias: str
    found: str | None
    audited: str | None

    @property
    def outcome(self) -> str:
        """What readers use instead."""
        return f"audited v{self.audited} used" if self.audited is not None else "alias ignored"

    def describe(self) -> str:
        found = f"v{self.found}" if self.found is not None else "deleted"
        audited = f"v{self.audited}" if self.audited is not None else "no audited move"
        return (f"{self.model} alias '{self.alias}' is {found} in the registry but {audited} in the audit log:"
                f" unaudited move refused ({self.outcome})")

    def to_dict(self) -> dict:
        return {**asdict(self), "outcome": self.outcome, "message": self.describe()}


def reconcile_aliases(model: str, found: dict[str, str], audited: dict[str, str]
                      ) -> tuple[dict[str, str], list[UnauditedMove]]:
    """The aliases readers may use (the audited ones) and the unaudited moves among ``found`` (the registry's
    alias -> version map), alias by alias in name order."""
    moves = [UnauditedMove(model, alias, found.get(alias), audited.get(alias))
             for alias in sorted(set(found) | set(audited)) if found.get(alias) != audited.get(alias)]
    return dict(audited), moves


def record_unaudited(audit: AuditLog, moves: list[UnauditedMove], actor: str, time: str) -> list[AuditRecord]:
    """Log each unaudited move once: a move already recorded (same model, alias and versions, with no audited
    move of that alias since) is not logged again. Returns the new records."""
    records = audit.records()
    new = []
    for move in moves:
        since = [r for r in records if r.model == move.model and r.alias == move.alias
                 and r.event in ("alias_move", UNAUDITED_EVENT, RESTORED_EVENT)]
        last = since[-1] if since else None
        if last is not None and last.event == UNAUDITED_EVENT and (last.from_version, last.to_version) == (
                move.audited, move.found):
            continue
        new.append(audit.append(AuditRecord(time, UNAUDITED_EVENT, move.model, move.alias, move.audited, move.found,
                                            move.describe(), None, actor)))
    return new
