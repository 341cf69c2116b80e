"""A circuit breaker for the Qdrant server: after a call times out or cannot connect, further calls
fail at once for a cool-down instead of each waiting QDRANT_TIMEOUT; then one call is let through
to try, and its outcome closes or reopens the circuit.
"""

from __future__ import annotations

import threading
import time

from handler.common import CircuitOpen


class Breaker:
    def __init__(self, cooldown: float, clock=time.monotonic) -> None:
        self.cooldown = cooldown  # seconds; 0 = never open
        self._clock = clock
        self._lock = threading.Lock()
        self._opened_at: float | None = None  # None: closed
        self._trying = False  # one call is testing the water after the cool-down
        self.reason = ""
        self.kind: type | None = None  # what the failure that opened it was (the storage raises that kind while open)

    def before_call(self) -> None:
        """Raise CircuitOpen unless this call may go to the server."""
        if self.cooldown <= 0:
            return
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if waited < self.cooldown or self._trying:
                left = max(0.0, self.cooldown - waited)
                raise CircuitOpen(f"not asked: it failed {waited:.1f} s ago ({self.reason}); next try in {left:.1f} s")
            self._trying = True

    def succeeded(self) -> None:
        """The server answered (an error status included: it is reachable)."""
        with self._lock:
            self._opened_at, self._trying, self.reason, self.kind = None, False, "", None

    def failed(self, reason: str, kind: type | None = None) -> None:
        if self.cooldown <= 0:
            return
        with self._lock:
            self._opened_at, self._trying, self.reason, self.kind = self._clock(), False, reason, kind

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None
