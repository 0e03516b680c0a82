"""The deployment kit agrees with the code: app.json, compose.yaml, .env.example and config.example.toml
declare every environment variable the code reads (and nothing else), compose runs the Procfile's
lines, and `honcho start` runs the Procfile as a host would."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from honcho.environ import parse as parse_dotenv
from redis import Redis
from redis.exceptions import RedisError

from bridge.config import _ENV_OVERRIDES
from bridge.delivery.store import Store
from bridge.dev.dev_redis import free_port
from bridge.keys import Keys
from bridge.redis_conn import persistence_warnings
from bridge.stripe_events import samples
from tests.conftest import EXAMPLE_CONFIG, ROOT, SECRET, process_env, signed, start_process, stop_process, wait_until
from tests.test_procfile import procfile

SCANNED = ("bridge", "workers")
ENV_VAR = re.compile(r"[A-Z][A-Z0-9_]*")

LIBRARY_READS = {
    "PROMETHEUS_MULTIPROC_DIR": "prometheus_client's multiprocess mode, on the web line",
    "SENTRY_ENVIRONMENT": "sentry-sdk, once SENTRY_DSN turns it on",
    "SENTRY_RELEASE": "sentry-sdk, once SENTRY_DSN turns it on",
}
"""Variables read on the bridge's behalf by the libraries it runs (the Procfile's are found in it)."""

PLATFORM_SET = {"PORT": "Heroku's dyno manager gives each web dyno its port"}
"""Variables the host sets: app.json must not declare them."""

ADDON_VARS = {"heroku-redis": ("_URL", "_TLS_URL")}
"""The config vars an add-on sets, after the name it is attached `as`."""


# --- what the code reads ---------------------------------------------------------------------


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _variable_read(node: ast.AST) -> ast.AST | None:
    """The key expression of `os.environ.get(K)`, `env.get(K)`, `os.environ[K]`, `getenv(K)`,
    `os.environ.setdefault(K, ...)` or `os.environ.pop(K)`, else None."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in {"get", "setdefault", "pop"} and _name(func.value) in {"environ", "env"}:
            return node.args[0]
        if _name(func) == "getenv":
            return node.args[0]
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _name(node.value) in {"environ", "env"}:
        return node.slice
    return None


def variables_read_in(source: str) -> set[str]:
    """Environment variables a module's source reads by name."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        key = _variable_read(node)
        if isinstance(key, ast.Constant) and isinstance(key.value, str) and ENV_VAR.fullmatch(key.value):
            found.add(key.value)
    return found


def variables_in_code() -> set[str]:
    """Every variable read by name in bridge/ and workers/, plus the config's overrides table."""
    found = set(_ENV_OVERRIDES)
    for package in SCANNED:
        for path in (ROOT / package).rglob("*.py"):
            found |= variables_read_in(path.read_text(encoding="utf-8"))
    return found


def variables_in_procfile() -> set[str]:
    return {match for line in procfile().values() for match in re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", line)}


def variables_read() -> set[str]:
    return variables_in_code() | variables_in_procfile() | set(LIBRARY_READS)


# --- what the kit declares -------------------------------------------------------------------


def app_json() -> dict[str, Any]:
    return json.loads((ROOT / "app.json").read_text())


def addon_variables(manifest: dict[str, Any]) -> set[str]:
    """The config vars app.json's add-ons set, by their attachment names."""
    found = set()
    for addon in manifest.get("addons", []):
        service = addon["plan"].split(":")[0]
        found |= {addon["as"] + suffix for suffix in ADDON_VARS.get(service, ())}
    return found


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def unescape_compose(text: str) -> str:
    """Compose's interpolation writes a literal `$` as `$$`."""
    return text.replace("$$", "$")


# --- the scanner itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        'os.environ.get("SOME_VAR")',
        'os.environ.get("SOME_VAR", "default")',
        'os.environ["SOME_VAR"]',
        'environ["SOME_VAR"]',
        'env.get("SOME_VAR")',
        'env["SOME_VAR"]',
        'os.getenv("SOME_VAR")',
        'getenv("SOME_VAR", "x")',
        'os.environ.setdefault("SOME_VAR", "/tmp/x")',
        'os.environ.pop("SOME_VAR", None)',
    ],
)
def test_the_scanner_finds_each_way_of_reading_a_variable(source: str):
    assert variables_read_in(f"import os\nx = {source}\n") == {"SOME_VAR"}


@pytest.mark.parametrize(
    "source",
    [
        'os.environ["SOME_VAR"] = "x"',
        'request.environ.get("gunicorn.socket")',
        'settings.get("SOME_VAR")',
        'dict(os.environ, SOME_VAR="x")',
        "os.environ.get(name)",
    ],
)
def test_the_scanner_ignores_writes_other_mappings_and_names_it_cannot_know(source: str):
    assert variables_read_in(f"import os\n{source}\n") == set()


def test_the_scan_finds_the_variables_known_to_be_read():
    """A scanner that found nothing would pass every check below."""
    assert {"REDIS_URL", "REDIS_TLS_URL", "BRIDGE_CONFIG", "PORT", "LOG_LEVEL", "STRIPE_WEBHOOK_SECRET"} <= variables_in_code()
    assert variables_in_procfile() == {"PORT", "WEB_CONCURRENCY"}


# --- app.json ----------------------------------------------------------------------------------


def test_every_variable_the_code_reads_is_declared_in_app_json_or_set_by_heroku():
    manifest = app_json()
    provided = set(manifest["env"]) | addon_variables(manifest) | set(PLATFORM_SET)
    assert sorted(variables_read() - provided) == []


def test_app_json_declares_no_variable_the_code_does_not_read():
    unread = set(app_json()["env"]) - variables_read()
    assert sorted(unread) == []


def test_app_json_declares_no_variable_the_platform_or_an_addon_sets():
    manifest = app_json()
    assert sorted(set(manifest["env"]) & (addon_variables(manifest) | set(PLATFORM_SET))) == []


def test_every_variable_the_code_reads_is_described_in_the_example_config():
    text = EXAMPLE_CONFIG.read_text()
    missing = [var for var in sorted(variables_read() | set(app_json()["env"])) if not re.search(rf"\b{var}\b", text)]
    assert missing == []


# Top-level keys of Heroku's app.json schema (devcenter.heroku.com/articles/app-json-schema).
APP_JSON_KEYS = {
    "name",
    "description",
    "keywords",
    "website",
    "repository",
    "logo",
    "success_url",
    "scripts",
    "env",
    "formation",
    "image",
    "addons",
    "buildpacks",
    "environments",
    "stack",
}


def test_app_json_uses_only_keys_of_herokus_schema():
    manifest = app_json()
    assert set(manifest) <= APP_JSON_KEYS
    assert len(manifest["name"]) <= 30
    for var, spec in manifest["env"].items():
        assert set(spec) <= {"description", "value", "required", "generator"}, var
        assert spec["description"].strip(), var
        assert spec.get("generator", "secret") == "secret", var
        assert not ("generator" in spec and "value" in spec), var


def test_app_json_generates_our_own_secrets_and_asks_for_the_ones_stripe_and_meta_issue():
    env = app_json()["env"]
    assert {var for var, spec in env.items() if "generator" in spec} == {"ADMIN_TOKEN", "METRICS_TOKEN", "WHATSAPP_VERIFY_TOKEN"}
    # Heroku requires every variable unless told otherwise; only the release phase's needs are required.
    required = {var for var, spec in env.items() if spec.get("required", True) and "generator" not in spec and "value" not in spec}
    assert required == {"STRIPE_WEBHOOK_SECRET"}


def test_app_json_runs_one_web_and_one_worker_dyno_with_redis_on_python():
    manifest = app_json()
    assert {name: spec["quantity"] for name, spec in manifest["formation"].items()} == {"web": 1, "worker": 1}
    assert set(manifest["formation"]) <= set(procfile())
    assert addon_variables(manifest) == {"REDIS_URL", "REDIS_TLS_URL"}
    assert manifest["buildpacks"] == [{"url": "heroku/python"}]


def test_the_release_phase_is_the_procfiles_release_line():
    """app.json has no release key: Heroku runs the Procfile's `release:` line before each release."""
    assert procfile()["release"] == "bridge check-config"
    assert "release" not in app_json()["formation"]


def test_the_python_version_heroku_reads_is_one_the_project_supports_and_the_image_uses():
    version = (ROOT / ".python-version").read_text().strip()
    major, minor = (int(part) for part in version.split("."))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lowest = tuple(int(part) for part in requires.removeprefix(">=").split("."))
    assert (major, minor) >= lowest
    assert f"FROM python:{version}-slim" in (ROOT / "Dockerfile").read_text().splitlines()


# --- compose.yaml ------------------------------------------------------------------------------


@pytest.mark.parametrize("process", ["web", "worker", "release"])
def test_compose_runs_the_procfiles_line_for_each_process_type(process: str):
    command = compose()["services"][process]["command"]
    assert command[:2] == ["sh", "-c"]
    assert unescape_compose(command[2]) == f"exec {procfile()[process]}"


@pytest.mark.parametrize("process", ["web", "worker", "release"])
def test_compose_passes_app_json_variables_to_each_process(process: str):
    environment = compose()["services"][process]["environment"]
    fixed = {"REDIS_URL": "redis://redis:6379/0", "BRIDGE_CONFIG": "/app/config/config.toml"}
    if process == "web":
        fixed["PORT"] = "8000"
    # A variable given without a value comes from .env or the shell, and stays unset when unset there.
    passed = {var for var, value in environment.items() if value is None}
    assert passed == set(app_json()["env"]) - set(fixed)
    assert {var: value for var, value in environment.items() if value is not None} == fixed


def test_compose_starts_web_and_worker_only_after_the_release_succeeded_on_a_healthy_redis():
    services = compose()["services"]
    for process in ("web", "worker"):
        assert services[process]["depends_on"] == {"release": {"condition": "service_completed_successfully"}}
    assert services["release"]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert services["release"]["restart"] == "no"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_compose_gives_the_processes_herokus_shutdown_grace():
    """SIGTERM, then 30 s: longer than the worker's job timeout, so a running send finishes."""
    services = compose()["services"]
    job_timeout = tomllib.loads(EXAMPLE_CONFIG.read_text())["delivery"]["job_timeout_seconds"]
    for process in ("web", "worker"):
        assert services[process]["stop_grace_period"] == "30s"
        assert job_timeout < 30


def test_compose_keeps_redis_on_a_volume_with_aof_and_noeviction():
    redis = compose()["services"]["redis"]
    assert redis["image"].split(":")[0] == "redis"
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose()["volumes"]


@pytest.mark.slow
def test_composes_redis_command_gives_the_persistence_the_bridge_checks_for(tmp_path: Path):
    """This machine's redis-server, started with the compose file's arguments, draws no warning."""
    port = free_port()
    argv = ["redis-server", *compose()["services"]["redis"]["command"][1:], "--port", str(port), "--dir", str(tmp_path), "--save", ""]
    server = start_process(argv, process_env(), tmp_path / "redis.log")
    client = Redis(port=port)
    try:
        wait_until(lambda: _pings(client), message="redis-server to answer")
        assert persistence_warnings(client) == []
        client.set("accepted", "1")
        wait_until(lambda: any((tmp_path / "appendonlydir").glob("*.incr.aof")), message="the append-only file")
    finally:
        client.close()
        stop_process(server)


def _pings(client: Redis) -> bool:
    try:
        return bool(client.ping())
    except RedisError:  # refused while the server starts
        return False


# --- .env.example ------------------------------------------------------------------------------


def env_example() -> str:
    return (ROOT / ".env.example").read_text()


def test_env_example_names_only_declared_variables_commented_out_or_not():
    manifest = app_json()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", env_example(), flags=re.MULTILINE))
    assert named, "the scan found no variable"
    assert sorted(named - set(manifest["env"]) - addon_variables(manifest) - set(PLATFORM_SET)) == []


def test_env_example_sets_no_empty_value():
    """An empty value is not the same as none: `WHATSAPP_API_VERSION=` would fail the config."""
    assert [line for line in env_example().splitlines() if re.fullmatch(r"[A-Z][A-Z0-9_]*=\s*", line)] == []


# --- honcho start ------------------------------------------------------------------------------


def _process_tree(root: int) -> set[int]:
    """Every descendant of `root`, from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children[todo.pop()]:
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for its parent."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _program(pid: int) -> str:
    """The program a process runs: `gunicorn` for `python .venv/bin/gunicorn ...`, `sh` for `/bin/sh -c ...`."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return ""
    program = Path(argv[0]).name
    return Path(argv[1]).name if program.startswith("python") and len(argv) > 1 and argv[1] != "-m" else program


def _dotenv_for_test(path: Path, **values: str) -> Path:
    """.env.example with `values` in place of its own: what a developer's .env would be."""
    settings = {**parse_dotenv(env_example()), **values}
    path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    return path


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_honcho_runs_web_and_worker_from_the_procfile_and_stops_them_all(redis: Redis, redis_url: str, tmp_path: Path):
    """`honcho start web worker` as the README says: the webhook answers, the worker delivers (dry
    run: the outbox), and one SIGTERM stops every process it started."""
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(EXAMPLE_CONFIG.read_text())
    dotenv = _dotenv_for_test(
        tmp_path / ".env", PORT=str(port), REDIS_URL=redis_url, BRIDGE_CONFIG=str(config), STRIPE_WEBHOOK_SECRET=SECRET
    )
    env = process_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "honcho", "start", "--no-colour", "-f", str(ROOT / "Procfile"), "-e", str(dotenv), "web", "worker"]
    log = tmp_path / "honcho.log"
    honcho = start_process(argv, env, log)
    started: set[int] = set()
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=30, message="the web process to answer /healthz")
        event = samples.fresh_event("payment_intent.succeeded")
        body, headers = signed(event)
        response = httpx.post(f"http://127.0.0.1:{port}/stripe/webhook", content=body, headers=headers, timeout=5)
        assert (response.status_code, response.json()) == (200, {"status": "queued"})

        store = Store(redis, keys=Keys("bridge"), event_ttl=60, delivery_ttl=60)
        (entry,) = wait_until(store.outbox, timeout=30, message="the worker to write the message to the outbox")
        assert entry["delivery_id"] == f"{event['id']}:payment_received"
        assert entry["request"]["template"]["name"] == "payment_receipt"

        started = _process_tree(honcho.pid)
        programs = Counter(_program(pid) for pid in started)
        # gunicorn's arbiter and its WEB_CONCURRENCY=2 workers; `bridge worker` (and its scheduler).
        assert programs["gunicorn"] == 3 and programs["bridge"] >= 1, programs

        honcho.send_signal(signal.SIGTERM)
        assert honcho.wait(timeout=45) == 143  # honcho's own exit code after a SIGTERM
        wait_until(lambda: not any(_running(pid) for pid in started), timeout=10, message="every process honcho started to exit")
    finally:
        stop_process(honcho)
        for pid in started:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
    # honcho signals each line's process group, as a dyno manager signals a dyno: the shell running
    # the line ends on the signal (rc=-15), the programs under it shut down in order.
    output = log.read_text()
    lines = {name: [line for line in output.splitlines() if f" {name} " in line] for name in ("web.1", "worker.1")}
    assert any("Shutting down: Master" in line for line in lines["web.1"]), output[-3000:]
    assert any("warm shut down requested" in line for line in lines["worker.1"]), output[-3000:]
    assert not any("Traceback" in line for line in lines["worker.1"]), output[-3000:]
