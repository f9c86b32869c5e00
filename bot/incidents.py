"""The boundary for the unexpected: one log line with a ref, and one message that tells
the user that ref (never the exception, which may hold anything)."""

from __future__ import annotations

import logging
import secrets

__all__ = ["Incident", "record_incident"]


class Incident:
    """An unexpected failure, logged under :attr:`ref`."""

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        self.ref = ref

    @property
    def message(self) -> str:
        """What the user is told."""
        return (
            f"Something went wrong on our side (ref {self.ref}). Please try again; if it "
            "keeps happening, give the operator that ref."
        )


def record_incident(log: logging.Logger, what: str, exc: BaseException | None) -> Incident:
    """Log ``{what} failed (incident REF)`` at ERROR with the traceback; the incident."""
    incident = Incident(secrets.token_hex(4))
    log.error("%s failed (incident %s)", what, incident.ref, exc_info=exc)
    return incident
