"""The consent policy: opt_out sends unless the customer opted out; opt_in only with consent.

In opt_in mode a message may go when `[consent] opt_in_when` is true for its event (the
Customer's metadata, Checkout's consent collection, ...) or when an opt-in is on record (the
customer replied START, or `bridge optout remove`). The expression is decided here, on the
worker; the record is checked in the gate's Redis step (`bridge.delivery.gate`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError

from bridge.config import Config, ConsentMode
from bridge.errors import ConfigError, ConfigProblem, RenderError
from bridge.mappings.compile import ENVIRONMENT
from bridge.mappings.sandbox import evaluate_condition


@dataclass(frozen=True)
class ConsentPolicy:
    mode: ConsentMode
    opt_in_when: Callable[..., Any] | None = None

    def needs_record(self, context: Mapping[str, Any]) -> bool:
        """True when only an opt-in on record can let this message go.

        An expression that cannot be evaluated for this event (a customer without the metadata
        key, a null field) has not said "consented": consent is never assumed.
        """
        if self.mode is ConsentMode.OPT_OUT:
            return False
        if self.opt_in_when is None:
            return True
        try:
            return not evaluate_condition(self.opt_in_when, context)
        except RenderError:
            return True


def compile_policy(config: Config) -> ConsentPolicy:
    """The policy, its expression compiled once; a syntax error is a ConfigError naming the key."""
    consent = config.consent
    if consent.mode is ConsentMode.OPT_OUT or not consent.opt_in_when:
        return ConsentPolicy(consent.mode)
    try:
        return ConsentPolicy(consent.mode, ENVIRONMENT.compile_expression(consent.opt_in_when, undefined_to_none=False))
    except TemplateSyntaxError as exc:
        raise ConfigError([ConfigProblem(config.source, "consent.opt_in_when", f"expression syntax error: {exc.message}")]) from None
