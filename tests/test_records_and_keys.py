"""One schema for the delivery record and one key map, shared by Python and the Lua scripts."""

from __future__ import annotations

import pytest
from redis import Redis

from bridge.delivery.records import (
    CLAIMABLE,
    FINAL,
    NOTICE_WENT_OUT,
    ClaimMode,
    ClaimOutcome,
    Field,
    Status,
    check_names,
    decode,
    lua_schema,
)
from bridge.keys import FAMILIES, Keys, lua_key_builders


def test_the_default_merchants_keys_read_as_before_the_account_segment():
    keys = Keys("bridge")
    assert keys.event("evt_1") == "bridge:event:evt_1"
    assert keys.delivery("evt_1:receipt") == "bridge:delivery:evt_1:receipt"
    assert keys.paused("") == "bridge:paused:dry-run"
    assert keys.rate("1065") == "bridge:rate:1065"
    assert keys.optout("all") == "bridge:optout:all"


def test_an_installs_keys_carry_its_account_in_a_cluster_hash_tag():
    keys = Keys("bridge", "acct_1Nv0FG")
    assert keys.event("evt_1") == "bridge:{acct_1Nv0FG}:event:evt_1"
    assert keys.deliveries_in(Status.FAILED) == "bridge:{acct_1Nv0FG}:deliveries:failed"
    assert Keys("bridge").for_account("acct_1Nv0FG") == keys


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lua_builds_every_key_exactly_as_python_does(redis: Redis, family: str):
    keys = Keys("bridge", "acct_9")
    script = lua_key_builders() + f"return K.{family}(ARGV[1], ARGV[2])"
    python = getattr(keys, family)
    expected = python("part") if callable(python) else python
    assert redis.eval(script, 0, keys.base, "part").decode() == expected


def test_the_lua_schema_names_every_field_status_and_claim_word(redis: Redis):
    script = (
        lua_schema()
        + """
local out = {}
for _, t in ipairs({F, S, C, M}) do for _, v in pairs(t) do table.insert(out, v) end end
for _, t in ipairs({CLAIMABLE, FINAL, NOTICE_WENT_OUT}) do for k, _ in pairs(t) do table.insert(out, 'set:' .. k) end end
return out
"""
    )
    names = {v.decode() for v in redis.eval(script, 0)}
    expected = {*Field, *Status, *ClaimOutcome, *ClaimMode}
    expected |= {f"set:{s}" for s in (*CLAIMABLE, *FINAL, *NOTICE_WENT_OUT)}
    assert names == {str(n) for n in expected}


def test_a_field_name_the_schema_does_not_know_is_refused():
    check_names([Field.STATUS, "wamid"])
    with pytest.raises(ValueError, match="wamdi"):
        check_names(["wamdi"])


def test_records_read_back_typed():
    raw = {b"status": b"sent", b"attempts": b"2", b"error_code": b"131026", b"created_at": b"1700000000.25", b"livemode": b"0"}
    record = decode(raw, "evt_1:receipt")
    assert record == {
        "id": "evt_1:receipt",
        "status": "sent",
        "attempts": 2,
        "error_code": 131026,
        "created_at": 1700000000.25,
        "livemode": False,
    }
