"""One schema for the delivery record and one key map, shared by Python and the Lua scripts."""

from __future__ import annotations

import pytest
from redis import Redis

from bridge.delivery.records import (
    FINAL,
    Field,
    Status,
    check_names,
    decode,
    lua_with_schema,
)
from bridge.keys import FAMILIES, Keys, lua_with_keys


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
    python = getattr(keys, family)
    expected, call = (python("part"), f"key('{family}', ARGV[2])") if callable(python) else (python, f"key('{family}')")
    script = lua_with_keys(f"local base = ARGV[1]\nreturn {call}")
    assert redis.eval(script, 0, keys.base, "part").decode() == expected


def test_a_key_family_lua_does_not_know_fails_when_the_script_is_built():
    with pytest.raises(KeyError, match="ordre"):
        lua_with_keys("return key('ordre', okey)")


def test_lua_gets_every_field_status_and_claim_word_and_the_status_sets(redis: Redis):
    script = lua_with_schema("return {F.wamid, S.dry_run, C.in_flight, M.resend_ambiguous, tostring(FINAL[s]), tostring(CLAIMABLE[s])}")
    assert [v.decode() for v in redis.eval("local s = ARGV[1]\n" + script, 0, "failed")] == [
        "wamid",
        "dry_run",
        "in_flight",
        "resend_ambiguous",
        "true",
        "false",
    ]
    expanded = lua_with_schema("return FINAL[s]")
    assert all(f"'{status}'" in expanded for status in FINAL)


def test_a_schema_name_lua_does_not_know_fails_when_the_script_is_built():
    with pytest.raises(KeyError, match="wamdi"):
        lua_with_schema("return F.wamdi")


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


def test_every_key_familys_variable_part_comes_last_as_the_lua_builder_assumes():
    assert all("{}" not in shape or (shape.count("{}") == 1 and shape.endswith("{}")) for shape in FAMILIES.values())


def test_deployment_wide_keys_carry_no_account_and_the_default_merchant_has_no_record():
    install = Keys("bridge", "acct_9")
    assert install.global_key("merchants") == Keys("bridge").global_key("merchants") == "bridge:merchants"
    assert install.global_key("merchant_phone", "1055") == "bridge:merchant-phone:1055"
    assert install.merchant == "bridge:{acct_9}:merchant"
    with pytest.raises(ValueError, match="config file"):
        _ = Keys("bridge").merchant
