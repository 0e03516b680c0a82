"""Reading a bearer token and comparing it, and which client address the admin door counts."""

from __future__ import annotations

import pytest

from bridge.api.auth import client_address
from bridge.web.bearer import bearer_token, token_matches
from bridge.web.security import came_over_https


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER   abc  ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token_is_read_from_the_header(header: str | None, token: str | None):
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    ("given", "expected", "matches"),
    [("s3cret-token", "s3cret-token", True), ("s3cret-tokeN", "s3cret-token", False), (None, "x", False), ("ü", "u", False)],
)
def test_tokens_match_only_when_equal(given: str | None, expected: str, matches: bool):
    assert token_matches(given, expected) is matches


@pytest.mark.parametrize(
    ("remote", "forwarded", "hops", "address"),
    [
        ("10.0.0.1", None, 1, "10.0.0.1"),
        ("10.0.0.1", "203.0.113.7", 1, "203.0.113.7"),
        ("10.0.0.1", "spoofed, 203.0.113.7", 1, "203.0.113.7"),
        ("10.0.0.1", "spoofed, 203.0.113.7, 10.1.1.1", 2, "203.0.113.7"),
        ("10.0.0.1", "203.0.113.7", 2, "10.0.0.1"),
        ("10.0.0.1", "203.0.113.7", 0, "10.0.0.1"),
        (None, None, 1, "unknown"),
    ],
)
def test_the_client_address_is_what_the_trusted_proxy_appended(remote: str | None, forwarded: str | None, hops: int, address: str):
    assert client_address(remote, forwarded, hops) == address


@pytest.mark.parametrize(
    ("scheme", "proto", "hops", "https"),
    [
        ("https", None, 0, True),
        ("http", "https", 1, True),
        ("http", "https", 0, False),
        ("http", "http, https", 1, True),
        ("http", "https, http", 1, False),
    ],
)
def test_https_is_believed_only_from_the_trusted_proxy(scheme: str, proto: str | None, hops: int, https: bool):
    assert came_over_https(scheme, proto, hops) is https
