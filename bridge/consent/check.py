"""May this customer be messaged? What is on record about their consent, as one answer for the
CLI (`bridge optout check`) and, later, the admin API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridge.config import ConsentMode
from bridge.delivery.optouts import Scope
from bridge.runtime import Runtime
from bridge.whatsapp.phones import mask_phone, whatsapp_variants


@dataclass(frozen=True)
class ConsentCheck:
    phone: str
    mode: ConsentMode
    opted_out: dict[Scope, dict[str, Any]] = field(default_factory=dict)
    """Scope → the opt-out on record (its time, source, ...)."""
    opted_in: dict[Scope, dict[str, Any]] = field(default_factory=dict)
    erased: bool = False
    """The number's data was erased; only its hashed opt-out remains."""

    @property
    def receipts(self) -> bool:
        """Whether utility templates (receipts, payment notices) may go."""
        if Scope.ALL in self.opted_out:
            return False
        return self.mode is ConsentMode.OPT_OUT or Scope.ALL in self.opted_in

    @property
    def marketing(self) -> bool:
        """Whether marketing templates may go."""
        if Scope.ALL in self.opted_out or Scope.MARKETING in self.opted_out:
            return False
        return self.mode is ConsentMode.OPT_OUT or bool(self.opted_in)

    def json(self) -> dict[str, Any]:
        return {
            "phone": mask_phone(self.phone),
            "mode": str(self.mode),
            "receipts": self.receipts,
            "marketing": self.marketing,
            "opted_out": {str(k): v for k, v in self.opted_out.items()},
            "opted_in": {str(k): v for k, v in self.opted_in.items()},
            "erased": self.erased,
        }


def check_customer(rt: Runtime, phone: str) -> ConsentCheck:
    """What the gate would decide for `phone` (E.164), before `opt_in_when` (decided per event)."""
    hashed = rt.optouts.hashed(phone)
    found = rt.optouts.status([*whatsapp_variants(phone), hashed])
    erased = bool(rt.optouts.status([hashed])["optout"])
    return ConsentCheck(phone, rt.config.consent.mode, found["optout"], found["optin"], erased)
