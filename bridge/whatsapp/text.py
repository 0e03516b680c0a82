"""Text parameters as Meta accepts them, as pure functions: cleaned of what it rejects, fitted to its limits.

Meta rejects a text parameter holding a newline, a tab or more than 4 consecutive spaces (132018)
and a body longer than 1,024 characters (132005). Both are facts about the customer's data (a
name pasted with a line break, a long address), not mistakes of the mapping, so the text is
cleaned and cut rather than failed: the customer still gets the receipt.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

BODY_LIMIT = 1024
"""Meta's limit on a template body (its own text plus every parameter), in characters."""
HEADER_TEXT_LIMIT = 60
"""Meta's limit on a text header (its own text plus its one parameter), in characters."""

ELLIPSIS = "…"
MIN_KEPT = 1
"""Visible characters a cut parameter keeps at least, before the ellipsis."""

# Everything str.splitlines() breaks on, plus the tab: each run (and the spaces around it)
# becomes one space, so "line one\n\nline two" reads "line one line two".
_BREAKS = re.compile(r"\s*[\n\r\t\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")
# Bidi embeddings, overrides and isolates reorder the text around them, and the other C0 and C1
# control characters (NUL, ESC, ...) have no place in a message: dropped, not spaced.
_DROPPED = re.compile(r"[\u202a-\u202e\u2066-\u2069\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
# Unicode's space separators (category Zs); Meta's "4 consecutive spaces" rule is applied to all
# of them, as nothing says a no-break space does not count.
_SPACE_RUN = re.compile(r"[ \xa0\u1680\u2000-\u200a\u202f\u205f\u3000]{5,}")

_ZWJ = "\u200d"
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


def clean_text(value: object) -> str:
    """`value` as a text parameter Meta accepts: no line breaks, tabs, control or bidi characters, at most 4 spaces in a row."""
    text = _DROPPED.sub("", str(value))
    text = _BREAKS.sub(" ", text)
    return _SPACE_RUN.sub(lambda run: run.group()[:4], text).strip()


def fit(text: str, limit: int) -> str:
    """`text`, or when longer than `limit`, its start and an ellipsis in at most `limit` characters.

    The cut never separates what is drawn as one character: a combining mark, a variation
    selector or a skin-tone modifier from its base, the halves of a ZWJ emoji or of a flag.
    """
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    cut = _cluster_boundary(text, limit - len(ELLIPSIS))
    return text[:cut].rstrip() + ELLIPSIS


def fit_body(texts: Sequence[str], budget: int = BODY_LIMIT) -> list[str]:
    """`texts` cut so that together they fit `budget` characters, the longest cut first.

    Each keeps at least one character and the ellipsis, so a budget too small for that is
    exceeded rather than a parameter emptied (Meta rejects empty parameters too).
    """
    lengths = [len(text) for text in texts]
    if sum(lengths) <= budget:
        return list(texts)
    cap = _longest_allowed(lengths, budget)
    return [fit(text, cap) for text in texts]


def _longest_allowed(lengths: list[int], budget: int) -> int:
    """The largest length L with sum(min(n, L)) <= budget: cutting every text longer than L to L
    is cutting the longest first until the total fits."""
    low, high = MIN_KEPT + len(ELLIPSIS), max(lengths)
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(n, middle) for n in lengths) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def _cluster_boundary(text: str, cut: int) -> int:
    """The nearest position at or before `cut` that does not split a character cluster.

    When the whole start is one cluster (a base with hundreds of combining marks, a ZWJ family
    longer than the limit) it is cut inside, after anything but a joiner: some text is better
    than none."""
    position = cut
    while position > 0 and _splits_cluster(text, position):
        position -= 1
    if position:
        return position
    position = cut
    while position > 1 and text[position - 1] == _ZWJ:
        position -= 1
    return position


def _splits_cluster(text: str, position: int) -> bool:
    before, after = text[position - 1], text[position]
    if before == _ZWJ or _extends(after):
        return True
    return _is_regional_indicator(after) and _regional_indicators_before(text, position) % 2 == 1


def _extends(char: str) -> bool:
    """Characters drawn as part of the character before them."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Me", "Mc")
        or char == _ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors (emoji vs text presentation)
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or 0xE0100 <= code <= 0xE01EF  # variation selectors supplement
    )


def _is_regional_indicator(char: str) -> bool:
    return ord(char) in _REGIONAL_INDICATORS


def _regional_indicators_before(text: str, position: int) -> int:
    """Regional indicators pair up into flags from the left: an odd count before `position` means
    the one at `position` completes a flag."""
    count = 0
    while position - count > 0 and _is_regional_indicator(text[position - count - 1]):
        count += 1
    return count
