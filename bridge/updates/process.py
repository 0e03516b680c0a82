"""The job that processes one post from Meta's webhook: each update to the part that acts on it."""

from __future__ import annotations

import logging

from bridge.runtime import Runtime
from bridge.whatsapp.webhook import parse_updates

logger = logging.getLogger(__name__)


def process_post(rt: Runtime, key: str) -> str:
    """Act on every update of a stored post, then mark the post processed."""
    document = rt.store.meta_post(key)
    if document is None:
        return "already processed"
    updates = parse_updates(document)
    rt.store.forget_meta_post(key)
    return f"{len(updates)} updates"
