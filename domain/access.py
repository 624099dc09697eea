"""Who is asking: a token's subject and role, and what each role may see and do."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import ValidationFailed

ROLES = ("client", "conductor", "operator")


@dataclass(frozen=True)
class Identity:
    sub: str
    role: str

    @property
    def sees_all(self) -> bool:
        """Conductors and operators see every client's jobs and bookings."""
        return self.role in ("conductor", "operator")

    def owner_filter(self) -> str | None:
        """The owner to restrict reads to, or None to see everything."""
        return None if self.sees_all else self.sub

    def owner_of(self, client: str | None) -> str:
        """Whose booking this is: the caller's own, or a client's when an operator says so."""
        if client is None:
            return self.sub
        if self.role != "operator":
            raise ValidationFailed(
                "Only operators book on a client's behalf.",
                {"client": ["Only operators may name a client."]},
            )
        return client
