"""A customer's reply as an intent: a stop keyword opts them out of everything, a start keyword back in.

Compared trimmed, Unicode-normalized and case-folded ("stop", " Stop ", "ARRÊT" and "arrêt" are
the same word); a quick-reply button counts by its text or its payload.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from enum import StrEnum

from bridge.config import ConsentSettings


class Intent(StrEnum):
    STOP = "stop"
    START = "start"


LANGUAGE_OF: dict[str, str] = {
    "stop": "en",
    "unsubscribe": "en",
    "start": "en",
    "subscribe": "en",
    "إيقاف": "ar",
    "إلغاء": "ar",
    "ابدأ": "ar",
    "اشتراك": "ar",
    "baja": "es",
    "alta": "es",
    "parar": "pt",
    "iniciar": "pt",
    "arret": "fr",
    "arrêt": "fr",
    "demarrer": "fr",
    "démarrer": "fr",
}
"""The language of each default keyword, for the confirmation reply."""


def folded(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip().casefold()


def intent_of(texts: Iterable[str | None], settings: ConsentSettings) -> tuple[Intent, str] | None:
    """(intent, the word matched) when one of `texts` is a stop or start keyword; stop wins."""
    words = {folded(t) for t in texts if t}
    for intent, keywords in ((Intent.STOP, settings.stop_keywords), (Intent.START, settings.start_keywords)):
        for keyword in keywords:
            if folded(keyword) in words:
                return intent, folded(keyword)
    return None


def reply_for(intent: Intent, word: str, settings: ConsentSettings) -> str | None:
    """The confirmation to send, in the keyword's language when there is one, else the first given."""
    replies = settings.stop_reply if intent is Intent.STOP else settings.start_reply
    if not replies:
        return None
    return replies.get(LANGUAGE_OF.get(word, ""), next(iter(replies.values())))
