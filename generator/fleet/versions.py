"""Blueprint versions: git tags of the template repository, ordered as PEP 440 versions (as Copier orders them)."""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

_DESCRIBE = re.compile(r"^(?P<tag>.+?)-(?P<distance>\d+)-g(?P<sha>[0-9a-f]{4,40})$")


def parse_version(text: str) -> Version | None:
    """`v1.2.0` -> 1.2.0; `v1.2.0-3-gabc123` (git describe past a tag) -> 1.2.0.post3; anything else -> None."""
    match = _DESCRIBE.match(text)
    try:
        if match:
            base = Version(match.group("tag"))
            return Version(f"{base.base_version}.post{match.group('distance')}")
        return Version(text)
    except InvalidVersion:
        return None


def release_tags(tags: list[str], prereleases: bool = False) -> list[str]:
    """The tags that are releases, lowest version first."""
    parsed = [(v, t) for t in tags if (v := parse_version(t)) is not None and (prereleases or not v.is_prerelease)]
    return [t for _, t in sorted(parsed)]


def latest_release(tags: list[str]) -> str | None:
    releases = release_tags(tags)
    return releases[-1] if releases else None
