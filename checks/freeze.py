"""Change freezes: is an environment inside a `freeze_windows` entry of tenantforge.yml at a given moment?

`checks.config` parses the windows (one definition); this module only evaluates them, so it accepts anything shaped
like `checks.config.FreezeWindow` and imports nothing from the gate. It lives in `checks/` because a freeze is a gate
rule ("promotions into prod inside a freeze window are refused"), the evaluation is pure data → answer, and both the
CLI (`tenantforge promote`) and any later gate stage can use it without depending on `generator`.

Semantics are Argo CD's `SyncWindow.active`, so CI refuses exactly when the AppProject `syncWindows` the blueprint
renders from the same entries make Argo CD refuse: a window is active at T when its cron schedule, read in the
window's time zone, fires at some F with T - duration < F < T (`schedule.Next(T - duration).Before(T)`).
A window without `environments` applies to every environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from checks.errors import ConfigError

# Argo CD parses schedules with robfig/cron's standard 5-field parser: numbers, ranges, steps, lists, `*`, `?` and
# three-letter month/day names. croniter also takes `L`, `W`, `#` and hashed `H` fields, which Argo CD would refuse.
_TOKEN = re.compile(r"^(\*|\?|\d+|[A-Za-z]{3})(-(\d+|[A-Za-z]{3}))?(/\d+)?$")


class FreezeWindowLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def schedule(self) -> str: ...
    @property
    def duration(self) -> timedelta: ...
    @property
    def timezone(self) -> str: ...
    @property
    def environments(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class ActiveFreeze:
    """A window that is active at the moment asked about, with its start and end (timezone-aware)."""

    name: str
    started: datetime
    ends: datetime

    def describe(self) -> str:
        return (
            f"freeze window {self.name!r} is active from {self.started.isoformat(timespec='minutes')} "
            f"until {self.ends.isoformat(timespec='minutes')}"
        )


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a 5-field cron schedule both croniter and Argo CD accept, or None when it is."""
    fields = expression.split()
    if len(fields) != 5:
        fields_text = "minute hour day-of-month month day-of-week"
        return f"{expression!r} has {len(fields)} fields, a cron schedule has 5 ({fields_text})"
    for field in fields:
        if not all(_TOKEN.match(part) for part in field.split(",")):
            return f"{expression!r}: field {field!r} is not numbers, ranges, steps, lists, * or month/day names"
    if not croniter.is_valid(expression):
        return f"{expression!r} has a value out of range (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-7)"
    return None


def validate(windows: Iterable[FreezeWindowLike], label: str = "tenantforge.yml") -> None:
    """Raise `ConfigError` naming `freeze_windows[i].<field>` for a window that cannot be evaluated."""
    for i, window in enumerate(windows):
        problem = cron_problem(window.schedule)
        if problem:
            raise ConfigError(f"{label}: freeze_windows[{i}].schedule: {problem}")
        try:
            ZoneInfo(window.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"{label}: freeze_windows[{i}].timezone: {window.timezone!r} is not an IANA time zone"
            ) from None
        if window.duration <= timedelta(0):
            raise ConfigError(f"{label}: freeze_windows[{i}].duration: must be longer than zero")


def applies(window: FreezeWindowLike, env: str) -> bool:
    return not window.environments or env in window.environments


def active_window(window: FreezeWindowLike, at: datetime) -> ActiveFreeze | None:
    """The occurrence of `window` that is active at `at` (aware datetime), or None."""
    if at.tzinfo is None:
        raise ValueError("freeze windows are evaluated at timezone-aware moments")
    local = at.astimezone(ZoneInfo(window.timezone))
    # The latest start strictly before `at`; it is the only one that can still be running when windows do not
    # overlap themselves, and if they do, an earlier start ends no later than this one.
    start: datetime = croniter(window.schedule, local).get_prev(datetime)
    if start > local - window.duration:
        return ActiveFreeze(window.name, start, start + window.duration)
    return None


def active_freezes(windows: Iterable[FreezeWindowLike], env: str, at: datetime | None = None) -> list[ActiveFreeze]:
    """Every window covering `env` that is active at `at` (default: now)."""
    moment = at or datetime.now(UTC)
    found = []
    for window in windows:
        if applies(window, env):
            active = active_window(window, moment)
            if active is not None:
                found.append(active)
    return found
