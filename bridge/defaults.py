"""Default values in one place, each with the reason it has that value."""

CONFIG_PATH = "config.toml"
"""Where the config file is read from when BRIDGE_CONFIG is not set."""

STRIPE_TOLERANCE_SECONDS = 300
"""Maximum age of a Stripe-Signature timestamp; Stripe's own libraries default to 5 minutes."""

MAX_BODY_BYTES = 1024 * 1024
"""Largest webhook body accepted (1 MiB); Stripe events are a few KiB."""

BODY_READ_SECONDS = 10.0
"""A request's body must arrive within this: Stripe and Meta send a few KB at once, while a client
that sends a byte a second would otherwise hold its connection for as long as it likes."""

WHATSAPP_API_BASE_URL = "https://graph.facebook.com"
WHATSAPP_API_VERSION = "v23.0"
"""Graph API version pinned for sends: v23+ reports parameter errors as 132018."""

TEMPLATES_FILE = "templates.json"
"""Where `bridge templates pull` keeps the template catalogue: beside the config file, because a
catalogue belongs to the WhatsApp Business Account that config sends from."""

TEMPLATE_PAGE_SIZE = 100
"""Templates per request when pulling the catalogue: Meta allows about 200 template-management
requests per hour, so few large pages rather than many small ones."""

WHATSAPP_TIMEOUT_SECONDS = 10.0
"""Per-request timeout for the Cloud API; short enough to finish inside Heroku's 30 s shutdown."""

TOKEN_CHECK_TIMEOUT_SECONDS = 3.0
"""The settings page's token check waits at most this for each step (connect, send, answer): the
overview waits for it, so a slow Meta costs the page seconds, never Heroku's 30 s router timeout."""

TOKEN_CHECK_CACHE_SECONDS = 300
"""How long the token check's answer (valid, or refused with Meta's code) is shown before Meta is
asked again: loading the overview costs no Graph call, and every web process shares the answer
through Redis. "Check again" asks at once."""

TOKEN_CHECK_RETRY_SECONDS = 60
"""How long "could not reach Meta" is kept: shorter, as it is likely to pass, but long enough that
each load of the overview during an outage does not wait out the timeout again."""

DEFAULT_COUNTRY = None
"""ISO region for phone numbers written without a country code; None means reject them."""

TIMEZONE = "UTC"
"""Time zone the `date` filter renders in unless a mapping asks for another."""

REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_SOCKET_TIMEOUT_SECONDS = 2.0
"""Web requests must answer 503 quickly when Redis is gone, not hang until Stripe's timeout."""

MAPPINGS_REFRESH_SECONDS = 1.0
"""How often a process asks Redis whether the saved mappings changed: a save from the settings page
reaches the web and the worker within about a second, for one GET a second per process (never one
per webhook)."""

IDLE_POLL_MIN_SECONDS = 0.005
IDLE_POLL_MAX_SECONDS = 0.05
"""A worker on several merchants' queues polls them (no blocking pop keeps RQ's crash safety over
several lists): again at once while jobs come, then after pauses doubling up to this, so a message
after a quiet spell waits at most this long more, for twenty cheap Lua calls a second when idle."""

MERCHANTS_REFRESH_SECONDS = 1.0
"""How often a process asks Redis whether the merchants changed (bridge.merchants.registry): an
install or a settings save reaches every process within about a second, for one GET a second."""

LAST_EVENT_WRITE_SECONDS = 1.0
"""How often a process records the time of a verified Stripe event no mapping wanted (those make
no Redis call of their own): the overview's "last verified event" is at most this stale."""

KEY_PREFIX = "bridge"
"""Prefix of every Redis key the bridge owns (RQ keeps its own `rq:` keys)."""

QUEUE_NAME = "bridge"
"""RQ queue that delivery jobs go through."""

EVENT_TTL_SECONDS = 30 * 24 * 3600
"""How long an accepted event (and so its dedupe mark) is kept: Stripe retries for 3 days."""

OUTBOX_MAX = 1000
"""Dry-run outbox keeps this many most recent messages."""

JOB_TIMEOUT_SECONDS = 25
"""RQ job timeout: one send plus rate-limit waits, and under Heroku's 30 s SIGTERM grace."""

JOB_RESULT_TTL_SECONDS = 10
"""Finished RQ jobs are kept only briefly: the delivery record, not the job, is the history, and
a finished job holds about 6.5 KB of Redis (at 80 messages/s, 10 s of them is ~5 MB; RQ's old
default of 10 minutes would be ~300 MB). Not 0: RQ deletes such jobs eagerly, ~12% slower."""

JOB_FAILURE_TTL_SECONDS = 30 * 24 * 3600
"""Jobs that crash unexpectedly stay in RQ's failed registry long enough to be inspected."""

MAX_ATTEMPTS = 8
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 3600.0
GIVE_UP_AFTER_SECONDS = 72 * 3600
"""Transient failures are retried with exponential backoff for at most this long."""

DEV_PORT = 5000
DEV_WEBHOOK_SECRET_FILE = ".bridge/dev_webhook_secret"
"""`bridge dev` keeps its generated webhook secret here so `bridge simulate` can sign with it."""
DEV_APP_SECRET_FILE = ".bridge/dev_app_secret"
"""And the Meta app secret it generates, so `bridge simulate-reply` can sign as Meta does."""
DEV_ADMIN_TOKEN_FILE = ".bridge/dev_admin_token"
"""`bridge dev`'s admin API token when ADMIN_TOKEN is not set (the file is private to its owner)."""

MESSAGES_PER_SECOND = 80
"""Cloud API throughput per business number: 80 messages/s by default, up to 1,000."""

PAIR_INTERVAL_SECONDS = 6.0
"""Meta's pair rate limit: about one message every 6 s to the same customer."""

INLINE_WAIT_MAX_SECONDS = 1.0
"""A rate-limit wait up to this long is slept in the worker; longer waits reschedule the job."""

SHARED_INLINE_WAIT_MAX_SECONDS = 0.1
"""The same, for a worker serving several merchants' queues: a sleep for one merchant's slot holds
up the others' messages, so a longer wait is rescheduled and the worker moves on. Waits at Meta's
pace (12.5 ms at 80 messages a second) stay inline."""

ON_AMBIGUOUS = "resend"
AMBIGUOUS_WAIT_SECONDS = 600
"""After a send whose outcome is unknown, wait this long for the status webhook to reconcile."""

ORDER_WAIT_SECONDS = 600
"""A notice waits at most this long (since it was queued) for an earlier one about the same payment."""

ORDER_RECHECK_SECONDS = 2.0
"""How soon a notice waiting for an earlier one about the same payment looks again."""

PAUSE_PROBE_SECONDS = 60
"""While sending is paused by an account error, one held message is retried this often (doubling, up to 1 h)."""

PAUSE_PROBE_MAX_SECONDS = 3600

PROBE_CANDIDATES = 5
"""A probe tries up to this many held messages to find one that reaches Meta."""

RQ_RETRY_INTERVALS = (30, 120, 600)
"""RQ re-runs a job that crashed or was abandoned by a dead worker after these delays."""

MAINTENANCE_INTERVAL_SECONDS = 60
"""How often a worker looks for jobs abandoned by dead workers (RQ's default is 10 minutes)."""

REDIS_RECONNECT_MAX_SECONDS = 30.0

META_POST_TTL_SECONDS = 7 * 24 * 3600
"""Meta retries a webhook post for up to 7 days: a repeated post is recognised that long."""

META_SEEN_TTL_SECONDS = 7 * 24 * 3600
"""Meta repeats a status or an inbound message for up to 7 days: each is acted on once in that time."""

STOP_KEYWORDS = ("STOP", "UNSUBSCRIBE", "إيقاف", "إلغاء", "BAJA", "PARAR", "ARRET", "ARRÊT")
"""A customer's reply that opts them out of every message (compared trimmed and case-folded)."""

START_KEYWORDS = ("START", "SUBSCRIBE", "ابدأ", "اشتراك", "ALTA", "INICIAR", "DEMARRER", "DÉMARRER")
"""A customer's reply that opts them back in."""

DELIVERY_RETENTION_DAYS = 90.0
"""[retention] delivery_days: how long delivery records and their history are kept."""

TEMPLATES_MAX_AGE_HOURS = 30 * 24.0
"""[health] templates_max_age_hours: `/readyz` fails once the templates snapshot is older. The
snapshot is pulled by hand (`bridge templates pull`), and Meta's webhook already reports paused
or re-categorized templates; a month-old one probably misses templates or languages added since."""

REPLY_RETRY_INTERVALS = (5, 30, 120)
"""A STOP/START confirmation that Meta could not take for a passing reason is retried this soon:
it only makes sense while the customer is looking."""

FORWARD_RETRY_INTERVALS = (10, 60, 300, 1800, 3600, 6 * 3600, 12 * 3600)
"""A helpdesk that is down gets the customer's message again after these waits (about a day in
all); a helpdesk that refuses it (4xx) is not asked again."""

FORWARD_TIMEOUT_SECONDS = 10.0
FORWARD_SIGNATURE_HEADER = "Bridge-Signature"
"""Forwarded messages are signed as Stripe signs its webhooks: `t=<unix time>,v1=<HMAC-SHA256 hex
of "t.body" with [consent] forward_secret>`."""


# -- admin API ------------------------------------------------------------------------------------

ADMIN_TOKEN_MIN_LENGTH = 16
"""A shorter bearer token could be guessed: 20 tries a minute (below) over months is millions."""
ADMIN_AUTH_FAILURES_PER_MINUTE = 20
"""Failed admin sign-ins a client address may make in a minute; the 21st and later answer 429."""
ADMIN_AUTH_WINDOW_SECONDS = 60
PROXY_HOPS = 1
"""Heroku's router (and most PaaS routers) is one proxy: it appends the client's address to X-Forwarded-For."""
API_PAGE_MAX = 500
"""The most delivery records one API page holds."""
