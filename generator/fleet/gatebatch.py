"""Tenants that reach the gate at about the same time are gated together, with one run of each gate tool.

trivy spends about a second loading its checks before it reads a single file, whatever it scans; on a fleet that
second, paid per tenant, is the largest cost of an upgrade after Copier. `checks.gate.run_gates` gives every tenant
of a batch exactly the result a gate of its own would give. A tenant waits for others only while some other running
tenant could still join, and never longer than `linger` seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from checks.errors import GateError
from checks.gate import GateRequest, GateResult, run_gates

LINGER_SECONDS = 2.0
MAX_BATCH = 16


@dataclass(eq=False)
class _Slot:
    request: GateRequest
    arrived: float = field(default_factory=time.monotonic)
    taken: bool = False
    result: GateResult | BaseException | None = None


class GateBatcher:
    def __init__(self, *, linger: float = LINGER_SECONDS, max_batch: int = MAX_BATCH) -> None:
        self._linger = linger
        self._max = max_batch
        self._cond = threading.Condition()
        self._active = 0  # tenants running that may still come to the gate
        self._gating = 0  # requests in a batch that is running
        self._waiting: list[_Slot] = []

    @contextmanager
    def participant(self) -> Iterator[None]:
        """Count the calling tenant as one that may come to the gate until the block ends."""
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def gate(self, request: GateRequest) -> GateResult:
        """`checks.gate.run_gate(request)`, possibly in one run with other tenants' requests."""
        slot = _Slot(request)
        with self._cond:
            self._waiting.append(slot)
            self._cond.notify_all()
        while True:
            with self._cond:
                while slot.result is None and (slot.taken or not self._ready()):
                    self._cond.wait(timeout=self._timeout())
                if slot.result is not None:
                    if isinstance(slot.result, BaseException):
                        raise slot.result
                    return slot.result
                batch = self._waiting[: self._max]
                del self._waiting[: self._max]
                for taken in batch:
                    taken.taken = True
                self._gating += len(batch)
            self._run(batch)

    def _ready(self) -> bool:
        if not self._waiting:
            return False
        everyone_here = len(self._waiting) + self._gating >= self._active
        waited = time.monotonic() - self._waiting[0].arrived >= self._linger
        return everyone_here or waited or len(self._waiting) >= self._max

    def _timeout(self) -> float | None:
        if not self._waiting:
            return None
        return max(0.01, self._waiting[0].arrived + self._linger - time.monotonic())

    def _run(self, batch: list[_Slot]) -> None:
        results: list[GateResult | GateError] | None = None
        failure: BaseException | None = None
        try:
            results = run_gates([slot.request for slot in batch])
        except BaseException as exc:  # handed to every waiting tenant, each reports it as its own failure
            failure = exc
        with self._cond:
            for index, slot in enumerate(batch):
                slot.result = results[index] if results is not None else failure
            self._gating -= len(batch)
            self._cond.notify_all()
