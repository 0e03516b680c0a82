"""Text parameters are cleaned and fitted, not failed: the pure functions in bridge.whatsapp.text."""

from __future__ import annotations

import random
import re
import unicodedata

import pytest

from bridge.delivery.records import Status
from bridge.errors import RenderError
from bridge.stripe_events import samples
from bridge.whatsapp.text import BODY_LIMIT, ELLIPSIS, clean_text, fit, fit_body
from tests.conftest import Bridge
from tests.fake_graph import FakeGraphAPI
from tests.test_mapping import compile_one, ctx

LINE_BREAKS = ["\n", "\r", "\r\n", "\t", "\v", "\f", "\x85", "\u2028", "\u2029"]
BIDI_CONTROLS = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]]
UNICODE_SPACES = [" ", "\xa0", "\u1680", "\u2000", "\u2007", "\u200a", "\u202f", "\u205f", "\u3000"]
SPACE_CLASS = "[" + "".join(UNICODE_SPACES) + "\u2001-\u2009]"

WOMAN_TECHNOLOGIST = "👩\U0001f3fd\u200d💻"  # woman, medium skin tone, ZWJ, laptop
FAMILY = "👨\u200d👩\u200d👧"
FLAG_BR = "🇧🇷"
KEYCAP_ONE = "1\ufe0f\u20e3"
HEART_EMOJI = "❤\ufe0f"
E_ACUTE = "e\u0301"
CLUSTERS = [WOMAN_TECHNOLOGIST, FAMILY, FLAG_BR, KEYCAP_ONE, HEART_EMOJI, E_ACUTE, "की"]  # the last: a spacing vowel sign


def meta_accepts(text: str) -> bool:
    """The fake Graph API's rule for text parameters, widened to every line break and Unicode space."""
    return bool(text) and not re.search(r"[\n\r\t\v\f\x85\u2028\u2029]", text) and not re.search(SPACE_CLASS + "{5,}", text)


def random_texts(seed: int, count: int = 300) -> list[str]:
    """Text made of letters, every character clean_text handles, and emoji clusters; it starts with a
    letter, so a cut after it never has to split a cluster."""
    alphabet = ["a", "B", "é", "ß", "字", *LINE_BREAKS, *BIDI_CONTROLS, *UNICODE_SPACES, *CLUSTERS]
    rng = random.Random(seed)
    return ["a" + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(count)]


@pytest.mark.parametrize("char", LINE_BREAKS)
def test_each_line_break_and_tab_becomes_a_space(char):
    assert clean_text(f"Jenny{char}Rosen") == "Jenny Rosen"


def test_a_run_of_line_breaks_and_the_spaces_around_it_become_one_space():
    assert clean_text("Jenny \n\r\n\t  Rosen\u2028\u2029Ltd") == "Jenny Rosen Ltd"


@pytest.mark.parametrize("char", BIDI_CONTROLS, ids=[f"U+{ord(c):04X}" for c in BIDI_CONTROLS])
def test_each_bidi_control_is_removed(char):
    assert clean_text(f"{char}Jenny{char} Rosen{char}") == "Jenny Rosen"


@pytest.mark.parametrize("space", UNICODE_SPACES, ids=[f"U+{ord(c):04X}" for c in UNICODE_SPACES])
def test_runs_of_any_unicode_space_shorten_to_four(space):
    assert clean_text(f"a{space * 9}b") == f"a{space * 4}b"
    assert clean_text(f"a{space * 4}b") == f"a{space * 4}b"


def test_a_mixed_run_of_spaces_and_no_break_spaces_counts_as_one_run():
    assert clean_text("total: \xa0 \xa0 \xa0 $5") == "total: \xa0 \xa0$5"


def test_single_no_break_spaces_in_formatted_money_are_kept():
    assert clean_text("R$\xa09,90") == "R$\xa09,90"


def test_ends_are_stripped_and_non_strings_are_printed():
    assert clean_text("  \n Jenny \t") == "Jenny"
    assert clean_text(1999) == "1999"


@pytest.mark.parametrize("seed", range(5))
def test_cleaned_text_is_always_accepted_by_meta_unless_empty(seed):
    for text in random_texts(seed):
        cleaned = clean_text(text)
        assert cleaned == "" or meta_accepts(cleaned), repr(text)
        assert not any(c in cleaned for c in BIDI_CONTROLS)
        assert cleaned == clean_text(cleaned)  # cleaning twice changes nothing


def test_fit_leaves_text_within_the_limit_alone():
    assert fit("Jenny Rosen", 11) == "Jenny Rosen"


def test_fit_cuts_with_an_ellipsis_within_the_limit():
    assert fit("Jenny Rosen", 8) == "Jenny R…"
    assert fit("Jenny Rosen", 7) == "Jenny…"  # the space before the cut is not kept
    assert fit("abcdefghij", 5) == "abcd…"


@pytest.mark.parametrize("cluster", CLUSTERS, ids=lambda c: "+".join(f"U+{ord(x):04X}" for x in c))
@pytest.mark.parametrize("prefix", ["a", "ab", "abc"])
def test_fit_never_splits_an_emoji_or_combining_sequence(cluster, prefix):
    text = prefix + cluster * 3
    for limit in range(2, len(text)):
        fitted = fit(text, limit)
        assert len(fitted) <= limit
        assert fitted.endswith(ELLIPSIS)
        kept = fitted.removesuffix(ELLIPSIS)
        rest = text[len(kept) :]
        assert text.startswith(kept)
        assert rest.startswith(cluster) or rest.startswith(prefix[len(kept) :] + cluster), (limit, fitted)


def test_fit_keeps_flags_whole_in_a_run_of_flags():
    flags = "🇧🇷🇺🇸🇫🇷"
    assert fit(flags, 4) == "🇧🇷…"
    assert fit(flags, 5) == "🇧🇷🇺🇸…"


def test_fit_cuts_inside_a_cluster_rather_than_keep_nothing():
    zalgo = "a" + "\u0301" * 50
    assert fit(zalgo, 10) == zalgo[:9] + ELLIPSIS
    assert fit(FAMILY * 2, 3) == "👨…"  # not "👨\u200d…": a dangling joiner glues onto the ellipsis


@pytest.mark.parametrize("seed", range(3))
def test_fitted_text_never_ends_in_a_lone_mark_or_joiner(seed):
    for text in random_texts(seed, count=100):
        text = clean_text(text)
        for limit in range(2, len(text)):
            kept = fit(text, limit).removesuffix(ELLIPSIS)
            assert len(kept) < limit
            if kept and len(kept) < len(text):
                cut_before = text[len(kept)]
                assert not (unicodedata.category(cut_before) in ("Mn", "Me", "Mc") or cut_before in "\u200d\ufe0f"), (text, limit)
                assert not kept.endswith("\u200d")


def test_fit_body_leaves_a_body_within_budget_alone():
    assert fit_body(["Jenny", "$19.99"], budget=20) == ["Jenny", "$19.99"]


def test_fit_body_cuts_the_long_parameter_and_keeps_the_short_ones():
    texts = ["x" * 2000, "Jenny Rosen", "$19.99", "A1B2C3D4-0002"]
    fitted = fit_body(texts)
    assert fitted[1:] == texts[1:]
    assert sum(map(len, fitted)) == BODY_LIMIT
    assert fitted[0] == "x" * (BODY_LIMIT - 30 - 1) + ELLIPSIS


def test_fit_body_cuts_the_longest_first_until_two_long_ones_are_even():
    fitted = fit_body(["a" * 700, "b" * 500, "c" * 10], budget=610)
    assert [len(t) for t in fitted] == [300, 300, 10]
    assert fitted[0].endswith(ELLIPSIS) and fitted[1].endswith(ELLIPSIS) and fitted[2] == "c" * 10


def test_fit_body_keeps_one_character_and_the_ellipsis_per_parameter_even_past_the_budget():
    assert fit_body(["abc", "def", "ghi"], budget=3) == ["a…", "d…", "g…"]


@pytest.mark.parametrize("seed", range(5))
def test_fit_body_always_fits_a_budget_that_leaves_two_characters_a_parameter(seed):
    rng = random.Random(seed)
    for _ in range(200):
        texts = [clean_text(t) or "x" for t in random_texts(rng.randint(0, 10**6), count=rng.randint(1, 6))]
        texts = [t * rng.randint(1, 40) for t in texts]
        budget = rng.randint(2 * len(texts), 400)
        fitted = fit_body(texts, budget)
        assert sum(map(len, fitted)) <= budget
        for original, cut in zip(texts, fitted, strict=True):
            assert cut == original or (cut.endswith(ELLIPSIS) and original.startswith(cut[:-1]) and len(cut) >= 2)


# -- in a mapping, and through the whole pipeline ----------------------------------------------

LONG_DIRTY_NAME = "Jenny\n\nRosen" + "".join(f"{c}x" for c in LINE_BREAKS + BIDI_CONTROLS) + " " * 6 + "z" + "\xa0" * 6 + "y" * 2000


def test_a_long_multi_line_name_renders_clean_and_cut_instead_of_failing():
    mapping = compile_one(body=["{{ object.customer_name }}", "{{ object.amount_paid | money(object.currency) }}"])
    name, amount = mapping.render(ctx({"customer_name": LONG_DIRTY_NAME, "amount_paid": 1999, "currency": "usd"})).parameters
    assert meta_accepts(name.text)
    assert name.text.startswith("Jenny Rosen x x x") and "    z\xa0\xa0\xa0\xa0y" in name.text
    assert name.text.endswith("y" + ELLIPSIS) and len(name.text) + len(amount.text) == BODY_LIMIT
    assert amount.text == "$19.99"


def test_a_parameter_empty_after_cleaning_is_still_an_error():
    with pytest.raises(RenderError, match=r"body\[0\]: rendered empty"):
        compile_one(body=["{{ object.note }}"]).render(ctx({"note": "\u202a\n\t\u2029\xa0"}))


def test_a_2000_character_name_full_of_control_characters_is_sent_clean_and_cut(bridge: Bridge, fake_graph: FakeGraphAPI):
    event = samples.fresh_event("checkout.session.completed")
    event["data"]["object"]["customer_details"]["name"] = LONG_DIRTY_NAME
    assert bridge.post(event).status_code == 200
    bridge.work()
    (request,) = fake_graph.accepted
    (component,) = request.json["template"]["components"]
    name, *rest = [p["text"] for p in component["parameters"]]
    assert meta_accepts(name) and name.startswith("Jenny Rosen x") and name.endswith(ELLIPSIS)
    assert not any(c in name for c in BIDI_CONTROLS)
    assert rest == ["$19.99", event["data"]["object"]["id"][-8:]]
    assert len(name) + sum(map(len, rest)) == BODY_LIMIT
    assert fake_graph.problems == []
    assert [d["status"] for d in bridge.deliveries()] == [Status.SENT]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\x7f", "\x9b"])
def test_other_control_characters_are_removed(char):
    assert clean_text(f"Jenny{char} Rosen") == "Jenny Rosen"
