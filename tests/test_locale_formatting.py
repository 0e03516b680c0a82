"""The mapping language's money and date filters in the template's language, Arabic first."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import RenderError
from bridge.mappings.compile import ENVIRONMENT
from bridge.mappings.sandbox import render


def rendered(text: str, language: str = "en_US", **settings: Any) -> str:
    context = {"object": {}, "customer": None, "_language": language, "_timezone": "UTC", **settings}
    return render(ENVIRONMENT.from_string(text), context)


def test_the_amount_1000_filter_refuses_a_fourth_decimal_with_its_name():
    with pytest.raises(RenderError, match=r"^amount_1000: CLF 1\.2345 has more decimals than amount_1000 can hold$"):
        rendered("{{ 12345 | amount_1000('clf') }}")
    assert rendered("{{ 12340 | amount_1000('clf') }}") == "1234"
