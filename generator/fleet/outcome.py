"""What happened to one tenant in a fleet run: one immutable record, updated by copying."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PROPOSED = "proposed"  # branch pushed and merge request opened
    PUSHED = "pushed"  # branch pushed; no hosting configured, a person opens the merge request
    ALREADY_PROPOSED = "already-proposed"  # the upgrade branch exists on the remote on top of the tracked branch
    UP_TO_DATE = "up-to-date"  # the tracked branch is at the target already
    WOULD_UPGRADE = "would-upgrade"  # --dry-run: update, checks and gate passed; nothing committed or pushed
    CONFLICT = "conflict"
    DATA_LOSS = "data-loss"  # the update would silently drop tenant content (Copier does not report these)
    GATE_FAILED = "gate-failed"
    GATE_ERROR = "gate-error"
    MIGRATION_FAILED = "migration-failed"
    REFUSED = "refused"  # not a git repo, dirty work clone, newer version, no answers file, ...
    UNREACHABLE = "unreachable"
    PUSH_REJECTED = "push-rejected"
    MR_FAILED = "mr-failed"  # branch pushed, the hosting API refused the merge request (a re-run retries)
    HELD = "held"  # not attempted: an earlier wave did not pass
    ERROR = "error"

    @property
    def ok(self) -> bool:
        return self in _OK

    @property
    def colour(self) -> str:
        if self in _OK:
            return "green"
        return "yellow" if self in (Status.HELD, Status.MR_FAILED) else "red"


_OK = frozenset({Status.PROPOSED, Status.PUSHED, Status.ALREADY_PROPOSED, Status.UP_TO_DATE, Status.WOULD_UPGRADE})


@dataclass(frozen=True)
class Outcome:
    tenant: str
    status: Status
    message: str = ""
    to_version: str = ""
    from_version: str | None = None
    branch: str | None = None
    commit: str | None = None
    files: tuple[str, ...] = ()
    diffs: Mapping[str, str] = field(default_factory=dict)
    gate: str | None = None
    merge_request: str | None = None
    wave: str | None = None
    seconds: float = 0.0

    def but(self, **changes: Any) -> Outcome:
        return replace(self, **changes)

    def as_json(self, with_diffs: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tenant": self.tenant,
            "status": str(self.status),
            "ok": self.status.ok,
            "message": self.message,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "branch": self.branch,
            "commit": self.commit,
            "files": list(self.files),
            "gate": self.gate,
            "merge_request": self.merge_request,
            "wave": self.wave,
            "seconds": round(self.seconds, 3),
        }
        if with_diffs:
            data["diffs"] = dict(self.diffs)
        return data
