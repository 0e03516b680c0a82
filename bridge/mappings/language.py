"""Which of a template's languages to send a customer: their own, when the template has it.

Stripe gives a Customer's `preferred_locales` (["ar", "en"]) and a Checkout Session's `locale`
("fr", "es-419", "pt-BR", or "auto": the browser's, unknown here); WhatsApp names a template's
languages "en", "en_US", "pt_BR", "es_MX". Each preferred locale in turn is matched against the
template's languages, and the first one that matches any of them decides, taking the closest:

  1. the same locale, spelt with `-` or `_` in any case (zh-TW is zh_Hant_TW);
  2. its CLDR parent or child: es-419 (Latin American Spanish) → es_MX, es_AR; es-AR → es_419;
  3. the bare language: en-GB → en, the translation written for every region;
  4. a region with the same CLDR parent: es-AR → es_MX, en-AU → en_GB;
  5. any other region of the language: en → en_US, es-419 → es_ES.

A different script is a different language: zh-TW (Traditional) never gets zh_CN (Simplified).
Old codes still sent by Java and Android match the current ones (iw → he, in → id, tl → fil).
Among equally close languages the mapping's order decides, then the catalogue's, alphabetically.
When no preferred locale matches, the mapping's first language is sent (with a catalogue, its
first language the catalogue has).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator, Sequence
from typing import NamedTuple

from babel.core import get_global

_ALIASES = get_global("language_aliases")  # iw → he, in → id, tl → fil, sh → sr_Latn
_PARENTS = get_global("parent_exceptions")  # es_MX → es_419, en_GB → en_001, pt_AO → pt_PT
_LIKELY = get_global("likely_subtags")  # zh_TW → zh_Hant_TW, sr → sr_Cyrl_RS
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_SCRIPT = re.compile(r"[A-Za-z]{4}")
_REGION = re.compile(r"[A-Za-z]{2}|[0-9]{3}")


class _Tag(NamedTuple):
    code: str
    """As WhatsApp spells it: language, then Script and REGION when given (zh_Hant_TW, es_419)."""
    language: str
    """The current code of the language (he for iw, fil for tl): what is compared."""
    script: str
    """As given, else CLDR's likely script for the language and region ("" when CLDR has none)."""
    region: str

    @property
    def parent(self) -> str | None:
        """CLDR's parent locale when it is not the bare language: es_MX → es_419, en_AU → en_001."""
        return _PARENTS.get(f"{self.language}_{self.region}")


def normalize_locale(code: str) -> str:
    """A locale spelt as WhatsApp spells its language codes: "pt-br" → "pt_BR", "zh-hant-tw" →
    "zh_Hant_TW". Extensions are dropped ("en-US-u-ca-gregory" → "en_US"); what is no language
    code ("auto", "", "english") is ""."""
    tag = _tag(code)
    return tag.code if tag is not None else ""


def choose_language(candidates: Sequence[str], *, preferred: Sequence[str] = (), available: Collection[str] | None = None) -> str:
    """The template language to send (see the module's docstring for how it is matched).

    candidates: the mapping's languages, the first being its default; preferred: the customer's
    locales, best first ("auto" and empty values are skipped); available: the template's languages
    in the catalogue, or None without one (then the candidates are what is available)."""
    if not candidates:
        raise ValueError("a mapping names at least one language")
    pool = _pool(candidates, available)
    for wanted in _wanted(preferred):
        match = _closest(wanted, pool)
        if match is not None:
            return match
    return _default(candidates, available)


def _pool(candidates: Sequence[str], available: Collection[str] | None) -> list[str]:
    """What may be sent, in order of preference: the candidates, or the catalogue's languages
    (as the catalogue spells them) with the candidates first."""
    if available is None:
        return list(dict.fromkeys(candidates))
    offered = {normalize_locale(code): code for code in sorted(available)}
    first = [offered[code] for code in map(normalize_locale, candidates) if code in offered]
    return list(dict.fromkeys([*first, *sorted(available)]))


def _default(candidates: Sequence[str], available: Collection[str] | None) -> str:
    if available is None:
        return candidates[0]
    offered = {normalize_locale(code): code for code in available}
    return next((offered[code] for code in map(normalize_locale, candidates) if code in offered), candidates[0])


def _wanted(preferred: Sequence[str]) -> Iterator[_Tag]:
    for code in preferred:
        tag = _tag(code) if isinstance(code, str) else None
        if tag is not None:
            yield tag


def _closest(wanted: _Tag, pool: list[str]) -> str | None:
    ranked = []
    for order, code in enumerate(pool):
        offered = _tag(code)
        rank = _closeness(wanted, offered) if offered is not None else None
        if rank is not None:
            ranked.append((rank, order, code))
    return min(ranked)[2] if ranked else None


def _closeness(wanted: _Tag, offered: _Tag) -> int | None:
    """The step of the module's docstring at which `offered` matches; None: another language."""
    if wanted.language != offered.language or (wanted.script and offered.script and wanted.script != offered.script):
        return None
    if wanted.region == offered.region:
        return 1
    if _is_parent(wanted, offered) or _is_parent(offered, wanted):
        return 2
    if not offered.region:
        return 3
    if wanted.parent is not None and offered.parent == wanted.parent:
        return 4
    return 5


def _is_parent(parent: _Tag, child: _Tag) -> bool:
    return child.parent == f"{parent.language}_{parent.region}"


@functools.lru_cache(maxsize=1024)
def _tag(code: str) -> _Tag | None:
    """Parsed once per code: a language is chosen for every message."""
    spelt = _subtags(code.strip().replace("-", "_").split("_"))
    if spelt is None:
        return None
    language, script, region = spelt
    alias = _subtags(_ALIASES.get(language, "").split("_"))
    if alias is not None:  # iw → he, sh → sr_Latn: the same language under its current code
        language, script, region = alias[0], script or alias[1], region or alias[2]
    normalized = "_".join(part for part in spelt if part)
    return _Tag(normalized, language, script or _likely_script(language, region), region)


def _subtags(parts: list[str]) -> tuple[str, str, str] | None:
    """(language, Script, REGION) from the parts of a code; None when it names no language."""
    language, script, region = parts[0].lower(), "", ""
    if not _LANGUAGE.fullmatch(language):
        return None
    for part in parts[1:]:
        if not script and not region and _SCRIPT.fullmatch(part):
            script = part.title()
        elif not region and _REGION.fullmatch(part):
            region = part.upper()
        else:
            break  # variants and extensions (-1996, -u-ca-gregory) do not choose a template
    return language, script, region


def _likely_script(language: str, region: str) -> str:
    likely = _LIKELY.get(f"{language}_{region}") or _LIKELY.get(language) or ""
    return next((part for part in likely.split("_")[1:] if len(part) == 4), "")
