"""checks.freeze: when is an environment frozen? Argo CD's sync-window semantics, in the window's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from checks.config import parse_config
from checks.errors import ConfigError
from checks.freeze import active_freezes, cron_problem, validate


@dataclass(frozen=True)
class Window:  # the shape of checks.config.FreezeWindow
    name: str
    schedule: str
    duration: timedelta
    timezone: str = "UTC"
    environments: tuple[str, ...] = ()


BLACK_FRIDAY = Window("black-friday", "0 0 25 11 *", timedelta(hours=120), "Europe/Berlin", ("prod",))
WEEKEND = Window("weekend", "0 18 * * fri", timedelta(hours=64), "Europe/Berlin", ("prod", "staging"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("at", "frozen"),
    [
        (utc(2026, 11, 24, 22, 59), False),  # 23:59 in Berlin, the day before
        (utc(2026, 11, 24, 23, 0), False),  # the start minute itself: Argo CD's Next(T-d).Before(T) is strict
        (utc(2026, 11, 24, 23, 1), True),
        (utc(2026, 11, 29, 22, 59), True),  # last minute of the 120 h
        (utc(2026, 11, 29, 23, 0), False),
        (utc(2027, 6, 1, 12, 0), False),
    ],
)
def test_black_friday_window_in_berlin_time(at: datetime, frozen: bool) -> None:
    active = active_freezes([BLACK_FRIDAY], "prod", at)
    assert bool(active) is frozen
    if frozen:
        assert active[0].describe() == (
            "freeze window 'black-friday' is active from 2026-11-25T00:00+01:00 until 2026-11-30T00:00+01:00"
        )


def test_window_applies_only_to_its_environments_and_empty_means_all() -> None:
    at = utc(2026, 11, 26, 12, 0)
    assert active_freezes([BLACK_FRIDAY], "staging", at) == []
    everywhere = Window("all", "0 0 25 11 *", timedelta(hours=120), "Europe/Berlin")
    assert [a.name for a in active_freezes([everywhere, BLACK_FRIDAY], "dev", at)] == ["all"]
    assert [a.name for a in active_freezes([everywhere, BLACK_FRIDAY], "prod", at)] == ["all", "black-friday"]


@pytest.mark.parametrize(
    ("at", "frozen"),
    [
        (utc(2026, 12, 4, 16, 59), False),  # Friday 17:59 Berlin
        (utc(2026, 12, 5, 12, 0), True),  # Saturday
        (utc(2026, 12, 7, 8, 59), True),  # Monday 09:59 Berlin: Friday 18:00 + 64 h = Monday 10:00
        (utc(2026, 12, 7, 9, 0), False),
        (utc(2026, 12, 9, 12, 0), False),
    ],
)
def test_weekly_weekend_freeze(at: datetime, frozen: bool) -> None:
    assert bool(active_freezes([WEEKEND], "staging", at)) is frozen


def test_time_zone_of_the_window_decides_and_summer_time_is_followed() -> None:
    tokyo = Window("tokyo-morning", "0 9 * * *", timedelta(hours=1), "Asia/Tokyo")
    assert active_freezes([tokyo], "prod", utc(2026, 7, 1, 0, 30))  # 09:30 JST
    assert not active_freezes([tokyo], "prod", utc(2026, 7, 1, 9, 30))
    berlin = Window("berlin-nine", "0 9 * * *", timedelta(minutes=30), "Europe/Berlin")
    assert active_freezes([berlin], "prod", utc(2026, 7, 1, 7, 10))  # CEST = UTC+2
    assert active_freezes([berlin], "prod", utc(2026, 1, 15, 8, 10))  # CET = UTC+1
    assert not active_freezes([berlin], "prod", utc(2026, 1, 15, 7, 10))


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        active_freezes([BLACK_FRIDAY], "prod", datetime(2026, 11, 26))


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (
            Window("w", "99 * * * *", timedelta(hours=1)),
            "tenantforge.yml: freeze_windows[1].schedule: '99 * * * *' has a value out of range (minute 0-59, "
            "hour 0-23, day 1-31, month 1-12, weekday 0-7)",
        ),
        (
            Window("w", "0 0 L * *", timedelta(hours=1)),
            "tenantforge.yml: freeze_windows[1].schedule: '0 0 L * *': field 'L' is not numbers, ranges, steps, "
            "lists, * or month/day names",
        ),
        (
            Window("w", "0 0 * *", timedelta(hours=1)),
            "tenantforge.yml: freeze_windows[1].schedule: '0 0 * *' has 4 fields, a cron schedule has 5 "
            "(minute hour day-of-month month day-of-week)",
        ),
        (
            Window("w", "0 0 * * *", timedelta(hours=1), "Mars/Olympus"),
            "tenantforge.yml: freeze_windows[1].timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            Window("w", "0 0 * * *", timedelta(0)),
            "tenantforge.yml: freeze_windows[1].duration: must be longer than zero",
        ),
    ],
)
def test_malformed_windows_name_the_field(window: Window, message: str) -> None:
    validate([WEEKEND])
    with pytest.raises(ConfigError) as info:
        validate([WEEKEND, window])
    assert str(info.value) == message


@pytest.mark.parametrize("expr", ["0 0 25 11 *", "*/15 8-18 * * mon-fri", "0 0 1,15 jan,jul ?", "30 2 * * 0,7"])
def test_schedules_argo_cd_accepts_are_accepted(expr: str) -> None:
    assert cron_problem(expr) is None


def test_windows_parsed_by_the_gate_config_are_what_is_evaluated() -> None:
    config = parse_config(
        "version: 1\nfreeze_windows:\n"
        "  - {name: black-friday, schedule: '0 0 25 11 *', duration: 120h, timezone: Europe/Berlin,"
        " environments: [prod]}\n"
    )
    assert [a.name for a in active_freezes(config.freeze_windows, "prod", utc(2026, 11, 26, 12, 0))] == ["black-friday"]
    with pytest.raises(ConfigError) as info:
        parse_config("version: 1\nfreeze_windows:\n  - {name: w, schedule: '0 0 L * *', duration: 1h}\n")
    assert str(info.value) == (
        "tenantforge.yml: freeze_windows[0].schedule: '0 0 L * *': field 'L' is not numbers, ranges, steps, lists, "
        "* or month/day names"
    )
