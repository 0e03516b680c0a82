"""Rendering is bounded: a hostile or mistyped mapping costs a RenderError, never minutes, gigabytes or a crash."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.config import parse_config
from bridge.delivery.records import Status
from bridge.errors import ConfigError, RenderError
from bridge.mappings.compile import compile_mappings
from bridge.mappings.limits import MAX_ITEMS
from bridge.mappings.sandbox import RENDER_SECONDS
from bridge.stripe_events import samples
from tests.conftest import ROOT, Bridge, make_config, process_env
from tests.test_mapping import compile_one, ctx

QUICKLY = RENDER_SECONDS + 3  # seconds: the deadline, plus room for a loaded machine
INVOICE = {
    "id": "in_1",
    "amount_paid": 1999,
    "currency": "usd",
    "customer_name": "Jenny",
    "lines": {"data": [{"amount": 1}, {"amount": 2}]},
}
LONG = "{% set s = 'x' * 99999 %}"  # a string just under the limit

HOSTILE = [
    ("repeat a string a billion times", "{{ 'a' * 10**9 }}", "result too large: * would make 1,000,000,000 characters"),
    ("repeat a list", "{{ [1, 2] * 10**6 }}", "result too large: * would make 2,000,000 items"),
    ("concatenate two long strings", LONG + "{{ s + s }}", "result too large: + would make 199,998"),
    (
        "raise to a power with millions of digits",
        "{{ 7 ** (10 ** 7) }}",
        "result too large: ** would make an integer of up to 8,450,981 digits (the limit is 4,300)",
    ),
    ("multiply integers past 4,300 digits", "{{ (10 ** 4000) * (10 ** 4000) }}", "result too large: * would make an integer"),
    (
        "lipsum with huge arguments",
        "{{ lipsum(10**6, false, 10**6, 10**6) }}",
        "'lipsum' is undefined: lipsum, cycler, joiner, namespace are not available in mappings",
    ),
    ("cycler", "{{ cycler(1, 2).next() }}", "'cycler' is undefined"),
    ("joiner", "{{ joiner(',')() }}", "'joiner' is undefined"),
    ("namespace", "{% set ns = namespace(n='') %}{{ ns.n }}", "'namespace' is undefined"),
    ("a %-format width", "{{ '%0999999999d' % 1 }}", "result too large: '%' formatting"),
    ("a %-format width taken from the values", "{{ '%*d' % (10**9, 1) }}", "result too large: '%' formatting"),
    ("a %-format precision", "{{ '%.999999f' % 1.5 }}", "result too large: '%' formatting"),
    ("a str.format width", "{{ '{:999999999}'.format(1) }}", "result too large: the format spec"),
    ("a str.format width from an argument", "{{ '{:{w}}'.format(1, w=10**9) }}", "result too large: the format spec"),
    ("many str.format fields", "{{ ('{0:99999}' * 3).format(1) }}", "result too large: str.format"),
    ("format_map", "{{ '{a:999999999}'.format_map({'a': 1}) }}", "result too large: the format spec"),
    ("str.ljust", "{{ 'x'.ljust(10**9) }}", "result too large: str.ljust"),
    ("str.center", "{{ 'x'.center(10**9, '-') }}", "result too large: str.center"),
    ("str.zfill", "{{ '1'.zfill(10**9) }}", "result too large: str.zfill"),
    ("str.expandtabs", "{{ ('\t' * 50000).expandtabs(50000) }}", "result too large: str.expandtabs"),
    ("str.replace", LONG + "{{ s.replace('', 'yyy') }}", "result too large: str.replace"),
    ("str.join", LONG + "{{ s.join([s, s, s]) }}", "result too large: str.join"),
    ("the center filter", "{{ 'x' | center(10**9) }}", "argument too large: center was given 1,000,000,000"),
    ("the indent filter", LONG + "{{ s | indent(99999) }}", "result too large: indent"),
    ("the wordwrap filter", LONG + "{{ s | wordwrap(1, wrapstring='yyyy') }}", "result too large: wordwrap"),
    ("the replace filter", LONG + "{{ s | replace('x', 'yy') }}", "result too large: replace"),
    ("the batch filter", "{{ [1] | batch(10**9, 0) | list }}", "argument too large: batch"),
    ("the slice filter", "{{ [1] | slice(10**9) | list }}", "argument too large: slice"),
    ("the format filter", "{{ '%0999999999d' | format(1) }}", "result too large: '%' formatting"),
    ("the join filter on references to one long string", LONG + "{{ ([s] * 99) | join }}", "input too large: join"),
    ("printing a list of references to one long string", LONG + "{{ [s] * 99 }}", "output too large"),
    ("joining with ~ a list of references", LONG + "{{ ([s] * 99) ~ '' }}", "result too large: '~'"),
    (
        "nested lists of references",
        LONG + "{% set a = [s, s] %}{% set b = [a, a] %}{% set c = [b, b] %}{{ c | string }}",
        "result too large",
    ),
    ("a lazy map making long strings", "{{ range(30000) | map('center', 99999) | list }}", "result too large: the sequence"),
    ("tojson with an indent", "{{ object | tojson(99999) }}", "tojson takes no indent"),
    ("sum of lists", "{{ [[1]] * 20000 | sum(start=[]) }}", "sum adds numbers"),
    ("a huge range", "{{ range(10**9) | list }}", "Range too big"),
    ("output written in a loop", "{% for i in range(200) %}{{ 'x' * 1000 }}{% endfor %}", "output too large: more than 100,000 characters"),
    ("template text in a loop", "{% for i in range(99999) %}xx{% endfor %}", "output too large: more than 100,000 characters"),
    ("a macro's output", "{% macro m() %}{% for i in range(99999) %}xx{% endfor %}{% endmacro %}{{ m() | length }}", "output too large"),
    ("a set block's output", "{% set b %}{% for i in range(99999) %}xx{% endfor %}{% endset %}{{ b | length }}", "output too large"),
    ("a recursive macro", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "too deeply nested"),
    ("nested loops", "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}x", "render took longer than 2 s"),
    (
        "nested loops over one range",
        "{% set r = range(99999) %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}x",
        "longer than 2 s",
    ),
    (
        "nested loops in a set block",
        "{% set b %}{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}{% endset %}x",
        "2 s",
    ),
    (
        "a macro called in a long loop",
        "{% macro m() %}{% endmacro %}{% for a in range(99999) %}{% for b in range(99) %}{{ m() }}{% endfor %}{% endfor %}",
        "2 s",
    ),
]


@pytest.mark.parametrize(("template", "message"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_a_hostile_template_is_a_render_error_quickly(template, message):
    mapping = compile_one(body=[template])
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"^body\[0\]: ") as excinfo:
        mapping.render(ctx(INVOICE))
    assert time.monotonic() - started < QUICKLY
    assert message in str(excinfo.value)
    assert (excinfo.value.mapping, excinfo.value.key) == ("m", "body[0]")


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{ 'ab' * 3 }}", "ababab"),
        ("{{ ('x' * 100000) | length }}", "100000"),
        ("{{ 10 ** 4000 > 0 }}", "True"),
        ("{{ [1, 2] + [3] }}", "[1, 2, 3]"),
        ("{{ 2 ** 64 }}", "18446744073709551616"),
        ("{{ '%05d|%-4s|%.2f' % (42, 'a', 1.5) }}", "00042|a   |1.50"),
        ("{{ '%(n)s' % {'n': object.id} }}", "in_1"),
        ("{{ '|{:>5}|{:,}'.format('a', object.amount_paid * 1000) }}", "|    a|1,999,000"),
        ("{{ '%d' | format(object.amount_paid * 1000) }}", "1999000"),
        ("{{ object.missing | default(150000) }}", "150000"),
        ("{{ 'x'.ljust(3, '-') }}|{{ 'ab' | center(6) }}|", "x--|  ab  |"),
        ("{{ 'a b' | replace(' ', '_') }} {{ ', '.join(['a', 'b']) }}", "a_b a, b"),
        ("{% for line in object.lines.data %}{{ line.amount }}/{{ loop.length }} {% endfor %}", "1/2 2/2"),
        ("{{ object.lines.data | map(attribute='amount') | sum }}", "3"),
        ("{{ object.lines.data | map(attribute='amount') | join('+') }}", "1+2"),
        ("{{ object | tojson | length > 10 }}", "True"),
        ("{% macro greet(name) %}Hi {{ name }}{% endmacro %}{{ greet(object.customer_name) ~ '!' }}", "Hi Jenny!"),
        ("{{ 'x' * 99999 ~ '' }}", "x" * 1023 + "…"),
    ],
)
def test_templates_within_the_limits_render_as_before(template, text):
    assert compile_one(body=[template]).render(ctx(INVOICE)).parameters[0].text == text


def test_a_string_of_exactly_the_limit_is_allowed_and_one_more_is_refused():
    assert compile_one(body=[f"{{{{ ('x' * {MAX_ITEMS}) | length }}}}"]).render(ctx(INVOICE)).parameters[0].text == str(MAX_ITEMS)
    with pytest.raises(RenderError, match="result too large"):
        compile_one(body=[f"{{{{ 'x' * {MAX_ITEMS + 1} }}}}"]).render(ctx(INVOICE))


def test_when_is_evaluated_under_the_same_bounds():
    mapping = compile_one(when="('x' * 99999).ljust(10**9) != ''", body=["x"])
    with pytest.raises(RenderError, match=r"^when: result too large: str.ljust") as excinfo:
        mapping.applies(ctx(INVOICE))
    assert excinfo.value.key == "when"


def test_any_exception_escaping_a_render_is_a_render_error():
    # major_amount(none) raises AttributeError inside the formatting, which nothing caught before.
    with pytest.raises(RenderError, match=r"^body\[0\]: "):
        compile_one(body=["{{ object.amount_paid | major_amount(none) }}"]).render(ctx(INVOICE))


def test_compiling_hostile_mappings_raises_nothing_and_takes_no_time():
    base = {"events": ["invoice.paid"], "template": "t", "language": "en_US"}
    mappings = [{**base, "name": f"m{i}", "body": [template]} for i, (_, template, _) in enumerate(HOSTILE)]
    mappings.append({**base, "name": "hostile_when", "when": "7 ** (10 ** 7) > 0", "body": ["x"]})
    started = time.monotonic()
    compiled = compile_mappings(parse_config({"mappings": mappings}, source="c.toml"))
    assert len(compiled) == len(mappings)
    assert time.monotonic() - started < QUICKLY


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ({"body": ["{{ 1" + "0" * 5000 + " }}"]}, "c.toml: mappings[m].body[0]: cannot be compiled: Exceeds the limit (4300 digits)"),
        (
            {"body": ["{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"]},
            "c.toml: mappings[m].body[0]: cannot be compiled: too deeply nested",
        ),
        ({"when": "[" * 5000 + "]" * 5000, "body": ["x"]}, "c.toml: mappings[m].when: cannot be compiled: too deeply nested"),
        ({"recipient": "{{ 1" + "0" * 5000 + " }}", "body": ["x"]}, "c.toml: mappings[m].recipient: cannot be compiled"),
    ],
    ids=["a 5,000-digit literal", "brackets 5,000 deep", "a `when` 5,000 deep", "a 5,000-digit recipient"],
)
def test_a_template_jinja_cannot_compile_is_a_config_error_naming_the_key(mapping, problem):
    with pytest.raises(ConfigError) as excinfo:
        compile_one(**mapping)
    assert str(excinfo.value.problems[0]).startswith(problem)


# -- bridge check-config on hostile mappings, in a child process -------------------------------

CHECKED_BODIES = [
    "{{ 'a' * 10**9 }}",
    "{{ lipsum(10**6, false, 10**6, 10**6) }}",
    "{{ 7 ** (10 ** 7) }}",
    "{{ '{:999999999}'.format(1) }}",
    "{{ 'x' | center(10**9) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}x",
]
CHECKED_WHENS = ["'a' * 10**9", "('x' * 99999).ljust(10**9)", "7 ** (10 ** 7)"]


def hostile_config() -> str:
    """One mapping a hostile body or `when`; Python's repr of each is a valid TOML string."""
    header = '[[mappings]]\nname = "{}"\nevents = ["invoice.paid"]\ntemplate = "t"\nlanguage = "en_US"\n'
    bodies = [header.format(f"body_{i}") + f"body = [{template!r}]\n" for i, template in enumerate(CHECKED_BODIES)]
    whens = [header.format(f"when_{i}") + f'when = {expression!r}\nbody = ["x"]\n' for i, expression in enumerate(CHECKED_WHENS)]
    return "\n".join(['[redis]\nurl = "redis://127.0.0.1:6379/3"\n', *bodies, *whens])


# The child writes its own peak RSS (VmHWM) as it exits. Not os.wait4's ru_maxrss: Linux keeps the
# forked copy of the parent's memory in that figure across exec, so it reports pytest's own peak.
_PEAK_WRITER = """
import atexit, runpy, sys
def _peak():
    with open("/proc/self/status") as status, open("peak_kb.txt", "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_peak)
sys.argv[0] = "bridge"
runpy.run_module("bridge.cli", run_name="__main__")
"""


def run_measuring_memory(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str, float]:
    """`bridge ARGS...`'s exit code, stderr and peak RSS in MB, as the child itself saw it."""
    errors = cwd / "stderr.txt"
    with open(errors, "wb") as err:
        child = subprocess.Popen(
            [sys.executable, "-c", _PEAK_WRITER, *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        code = child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        code = child.wait()
    return code, errors.read_text(), int((cwd / "peak_kb.txt").read_text()) / 1024


def test_check_config_reports_every_hostile_mapping_quickly_and_in_bounded_memory(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(hostile_config())
    # PYTHONPATH: the child runs in an empty folder and must import this checkout's bridge.
    env = process_env(STRIPE_WEBHOOK_SECRET="whsec_x", PYTHONPATH=str(ROOT))
    started = time.monotonic()
    code, stderr, peak_mb = run_measuring_memory(["check-config", "--config", str(config)], env, tmp_path, 60)
    assert code == 1, stderr
    assert time.monotonic() - started < 60
    assert peak_mb < 150  # about 60 MB here
    problems = [line for line in stderr.splitlines() if line.startswith(f"{config}: mappings[")]
    expected = [f"mappings[body_{i}].body[0]: " for i in range(len(CHECKED_BODIES))]
    expected += [f"mappings[when_{i}].when: " for i in range(len(CHECKED_WHENS))]
    assert [line.split(": ", 1)[1][: len(prefix)] for line, prefix in zip(problems, expected, strict=True)] == expected, stderr
    assert "Traceback" not in stderr


def test_in_the_worker_a_hostile_render_is_a_failed_delivery_and_the_next_notice_still_goes_out(redis, redis_url, fake_graph):
    """The refund notice waits for pending notices about the same payment: a render stuck in
    `sending` would hold it back for `order_wait_seconds`."""
    base = {"template": "payment_receipt", "language": "en_US"}
    mappings = [
        {**base, "name": "hostile", "events": ["payment_intent.succeeded"], "body": ["{{ 'a' * object.amount_received * 10**6 }}"]},
        {**base, "name": "refund", "events": ["charge.refunded"], "body": ["{{ object.amount_refunded | money(object.currency) }}"]},
    ]
    bridge = Bridge(make_config(redis_url, fake_graph, mappings=mappings))
    try:
        paid = samples.fresh_event("payment_intent.succeeded", payment="p1", now=1_700_000_000)
        refunded = samples.fresh_event("charge.refunded", payment="p1", now=1_700_000_100)
        bridge.post(paid)
        bridge.post(refunded)
        bridge.work()
        deliveries = {d["mapping"]: d for d in bridge.deliveries()}
    finally:
        bridge.close()
    assert deliveries["hostile"]["status"] == Status.FAILED
    assert deliveries["hostile"]["error_message"].startswith("body[0]: result too large")
    assert deliveries["refund"]["status"] == Status.SENT
    assert bridge.scheduled() == []  # nothing waited for the failed one
    assert len(fake_graph.accepted) == 1
