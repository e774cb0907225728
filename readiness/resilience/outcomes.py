"""Which request outcomes a resilience policy reacts to: whole classes, plus JSON-RPC codes.

Shared by the breaker (what counts as a failure) and retry (what is worth another attempt).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from readiness.protocol.outcome import Outcome

INTERNAL_ERROR: Final = -32603  # JSON-RPC "internal error": the server broke, not the request


@dataclass(frozen=True, slots=True)
class OutcomeSet:
    """A set of outcomes: every outcome in `outcomes`, and RPC errors whose code is listed."""

    outcomes: frozenset[Outcome] = frozenset()
    rpc_error_codes: frozenset[int] = frozenset()

    def matches(self, outcome: Outcome, error_code: int | None = None) -> bool:
        if outcome in self.outcomes:
            return True
        return outcome is Outcome.RPC_ERROR and error_code in self.rpc_error_codes

    def __str__(self) -> str:
        names = [o.name.lower() for o in sorted(self.outcomes)]
        names += [f"rpc_error {code}" for code in sorted(self.rpc_error_codes)]
        return ", ".join(names) or "nothing"


# The server is unwell: it did not answer, the connection broke, or it reported an internal
# error. A tool error (`isError`) or a refused request is the server working as designed.
SERVER_FAILURES: Final = OutcomeSet(
    frozenset({Outcome.TIMEOUT, Outcome.TRANSPORT}), frozenset({INTERNAL_ERROR})
)
# Worth another attempt: the request may never have reached the server.
TRANSIENT_FAILURES: Final = OutcomeSet(frozenset({Outcome.TIMEOUT, Outcome.TRANSPORT}))
