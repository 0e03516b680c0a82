"""The settings page's pure parts: the SVG chart, the hours it counts, the language choice, the
Arabic catalogue (complete, placeholders intact) and locale formatting."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask, g

from bridge.services.activity import HOUR, hour_ranges
from bridge.settings_page import i18n
from bridge.settings_page.charts import PLOT_BOTTOM, PLOT_TOP, bar_chart, nice_ceiling

PACKAGE = Path(i18n.__file__).parent
SVG = "{http://www.w3.org/2000/svg}"


def chart(counts: list[int], **options) -> ET.Element:
    labels = [f"{h:02d}" for h in range(len(counts))]
    markup = bar_chart(counts, labels, title="Messages per hour", bar_titles=[f"{n} messages" for n in counts], **options)
    return ET.fromstring(str(markup))


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (420, 500), (501, 1000)])
def test_the_scale_tops_out_at_a_round_number(value: int, top: int):
    assert nice_ceiling(value) == top


def test_each_bar_is_as_tall_as_its_count_against_the_scale():
    svg = chart([0, 5, 10, 2])
    heights = [float(rect.get("height")) for rect in svg.iter(f"{SVG}rect")]
    full = PLOT_BOTTOM - PLOT_TOP
    assert heights == [0.0, full / 2, full, full / 5]
    for rect in svg.iter(f"{SVG}rect"):
        assert float(rect.get("y")) + float(rect.get("height")) == pytest.approx(PLOT_BOTTOM), "every bar stands on the axis"


def test_the_chart_is_an_image_named_for_screen_readers_with_each_bar_s_value_as_its_title():
    svg = chart([3, 1])
    assert svg.get("role") == "img"
    assert svg.get("aria-label") == "Messages per hour"
    assert svg.find(f"{SVG}title").text == "Messages per hour"
    assert [r.find(f"{SVG}title").text for r in svg.iter(f"{SVG}rect")] == ["3 messages", "1 messages"]
    assert "style" not in str(bar_chart([1], ["0"], title="t", bar_titles=["b"])), "the page's CSP allows no inline style"


def test_every_third_hour_is_labelled_and_the_scale_uses_the_given_number_format():
    svg = chart([1] * 24, format_number=lambda n: f"<{n}>")
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts[:2] == ["<1>", "<0>"]
    assert texts[2:] == [f"{h:02d}" for h in range(0, 24, 3)]


def test_text_in_the_chart_is_escaped():
    markup = str(bar_chart([1], ["<b>"], title='"><script>', bar_titles=["&"]))
    assert "<script>" not in markup and "<b>" not in markup
    ET.fromstring(markup)  # still well-formed


def test_a_chart_needs_one_label_and_title_per_bar():
    with pytest.raises(ValueError, match="one entry per bar"):
        bar_chart([1, 2], ["0"], title="t", bar_titles=["a", "b"])


def test_the_hours_counted_are_the_last_24_whole_hours_ending_with_the_current_one():
    now = 1_767_225_600 + 5 * HOUR + 1234  # 2026-01-01 05:20:34 UTC
    ranges = hour_ranges(now, 24)
    assert len(ranges) == 24
    assert ranges[-1] == (1_767_225_600 + 5 * HOUR, 1_767_225_600 + 6 * HOUR)
    assert all(end - start == HOUR for start, end in ranges)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(23))


@pytest.mark.parametrize(
    ("asked", "remembered", "accepted", "chosen"),
    [
        ("ar", None, [], "ar"),
        ("en", "ar", ["ar"], "en"),
        (None, "ar", ["en"], "ar"),
        (None, None, ["fr-FR", "ar-EG"], "ar"),
        ("xx", None, [], "en"),  # not a language the page has: ignored
        (None, None, [], "en"),
        ("AR", None, [], "ar"),
    ],
)
def test_the_language_is_the_asked_then_the_remembered_then_the_browser_s(asked, remembered, accepted, chosen):
    assert i18n.choose_language(asked, remembered, accepted) == chosen


def extracted_messages() -> set[str]:
    return {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(PACKAGE),
            method_map=[("**.py", "python"), ("templates/**.html", "jinja2.ext:babel_extract")],
            keywords={"_": None, "gettext": None, "N_": None, "translate": None},
            options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}},
        )
    }


def arabic_catalogue():
    with (PACKAGE / "translations" / "ar" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale="ar")


def test_every_label_of_the_page_has_an_arabic_translation():
    catalogue = arabic_catalogue()
    messages = extracted_messages()
    assert len(messages) > 100
    untranslated = sorted(m for m in messages if not (catalogue.get(m) and catalogue.get(m).string))
    assert untranslated == []
    stale = sorted(str(m.id) for m in catalogue if m.id and m.id not in messages)
    assert stale == [], "translations of labels the page no longer has"


def test_every_arabic_translation_keeps_the_placeholders_of_its_english():
    for message in arabic_catalogue():
        if message.id:
            assert sorted(re.findall(r"%\(\w+\)s", message.string)) == sorted(re.findall(r"%\(\w+\)s", message.id)), message.id


@pytest.fixture
def in_request():
    app = Flask(__name__)
    with app.test_request_context():
        yield g


@pytest.mark.parametrize(
    ("language", "count", "money", "when"),
    [
        ("en", "1,234,567", "$12.50", "Jan 2, 2026, 3:04:05\u202fAM"),
        ("ar", "1,234,567", "12.50\xa0US$", "02\u200f/01\u200f/2026، 3:04:05 ص"),
    ],
)
def test_numbers_money_and_times_are_formatted_in_the_page_s_locale(in_request, language, count, money, when):
    in_request.language = language
    assert i18n.number(1234567) == count
    assert i18n.money(1250, "usd").replace("\u200f", "") == money.replace("\u200f", "")
    assert i18n.moment(1767323045.0) == when
    assert i18n.gettext("Sign in") == {"en": "Sign in", "ar": "تسجيل الدخول"}[language]


def test_a_language_s_catalogue_is_compiled_from_its_po_file_at_import():
    assert isinstance(i18n.CATALOGUES["ar"], i18n.Translations)
    assert not list(PACKAGE.rglob("*.mo")), "no compiled catalogue is kept in the package"
