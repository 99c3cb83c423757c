"""The fleet's work dir: one clone per tenant, the last result per tenant, template mirrors, scratch renders.

```
<work>/clones/<tenant>/        work clone (owned by tenantforge; never a user's checkout)
<work>/clones/<tenant>.lock    held while a run works on that clone (two runs never share one)
<work>/clones/<tenant>.busy    exists while the clone holds uncommitted work; a later run discards that work
<work>/state/<tenant>.json     the last outcome recorded for the tenant (status, versions, gate summary, MR)
<work>/templates/<hash>.git    bare mirrors of the blueprint repositories
```
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.errors import UserError


class TenantBusy(UserError):
    """Another tenantforge run holds this tenant's clone."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    def clone_dir(self, tenant: str) -> Path:
        return self.root / "clones" / tenant

    def busy_marker(self, tenant: str) -> Path:
        return self.root / "clones" / f"{tenant}.busy"

    def scratch(self, prefix: str) -> Path:
        base = self.root / "tmp"
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=base))

    @contextmanager
    def locked(self, tenant: str) -> Iterator[None]:
        """Hold the tenant's clone for the duration; a second run gets `TenantBusy` instead of waiting."""
        path = self.root / "clones" / f"{tenant}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TenantBusy(f"tenant {tenant} is being worked on by another tenantforge run") from None
            yield
        finally:
            os.close(fd)

    def read_state(self, tenant: str) -> dict[str, Any]:
        path = self.root / "state" / f"{tenant}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, tenant: str, record: dict[str, Any]) -> None:
        """Replace the tenant's record atomically (a crash leaves the old or the new one, never half of one)."""
        path = self.root / "state" / f"{tenant}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, path)

    def update_state(self, tenant: str, **fields: Any) -> None:
        self.write_state(tenant, {**self.read_state(tenant), **fields})
