"""Darkroom settings: one module, driven by the environment, in sections by concern:

    1. environment helpers and mode      7. Channels (live updates)
    2. Django core and security          8. storage: static files, media, uploads
    3. apps (INSTALLED_APPS, once)       9. accounts and email
    4. database                         10. providers
    5. cache                            11. payments (Stripe) and credits
    6. Celery (routes and the one       12. limits
       beat schedule)                   13. product features (generations, media, workflows, developer platform)
                                        14. observability (logging, metrics, Sentry)

With no environment at all Darkroom runs embedded: SQLite and files under ``var/``, an in-process
channel layer and an in-process Celery worker. Production sets ``DATABASE_URL``, ``REDIS_URL``,
``SECRET_KEY`` and ``ALLOWED_HOSTS``. Every variable read here is listed in ``.env.example`` and
``docs/configuration.md`` (tests/test_settings.py checks it). No stand-in key or fake URL lives
here: the developer tools (devtools/) give the processes they start their own environment.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent.parent


# ================================================================ 1. environment helpers and mode


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


VAR_DIR = Path(env("DARKROOM_VAR_DIR", str(BASE_DIR / "var")))
REDIS_URL = env("REDIS_URL")
DATABASE_URL = env("DATABASE_URL")
# Embedded mode: no Redis, so the channel layer and the Celery broker live in this process.
EMBEDDED = not REDIS_URL


def _secret_key() -> str:
    if key := env("SECRET_KEY"):
        return key
    # Embedded mode keeps a generated key under var/ so sessions survive restarts.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


# ================================================================ 2. Django core and security
SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.ops.middleware.RequestContextMiddleware",  # request id and user id on every log line
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.core.middleware.ApplicationErrorMiddleware",
    # Multipart bodies parsed only where files are taken, and read before CSRF or the text checks do.
    "apps.core.body_limit.MultipartBodyMiddleware",
    "apps.core.middleware.NulCharacterMiddleware",
    "apps.core.middleware.ApiErrorBodyMiddleware",  # JSON error bodies for 404/405 under the APIs
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.credits.context_processors.balance",
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL = env_bool("SECURE_SSL", False)
SESSION_COOKIE_SECURE = SECURE_SSL
CSRF_COOKIE_SECURE = SECURE_SSL
SECURE_SSL_REDIRECT = SECURE_SSL
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_SSL
SECURE_HSTS_PRELOAD = SECURE_SSL
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# SECURE_CSP (Content-Security-Policy) is set in section 8: images may come from the object store.

# ================================================================ 3. apps
INSTALLED_APPS = [
    "daphne",
    "apps.ops.admin_site.OpsAdminConfig",  # django.contrib.admin, the dashboard as its index
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # third party
    "channels",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "ninja",
    "apps.credits.stripe_app.StripeRecordsConfig",  # dj-stripe, named "Stripe records" in the admin
    # Darkroom
    "apps.core",
    "apps.accounts",
    "apps.credits",
    "apps.catalog",
    "apps.providers",
    "apps.generations",
    "apps.media",
    "apps.workflows",
    "apps.realtime",
    "apps.hooks",
    "apps.batches",
    "apps.openai_compat",
    "apps.review",
    "apps.library",
    "apps.ops",
    "apps.gallery",
]

# ================================================================ 4. database
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    # Under ASGI every request runs in its own context, so a persistent connection is never reused
    # and piles up until PostgreSQL refuses clients: the web process pools them instead (config/asgi.py
    # sets DATABASE_POOL; Celery workers keep their one persistent connection per process).
    if env_bool("DATABASE_POOL") and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN", 2), "max_size": env_int("DATABASE_POOL_MAX", 16), "timeout": 10,
        }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "darkroom.sqlite3",
            # Web and the in-process worker write concurrently: take the write lock up front and wait for it.
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
# dj-stripe's schema as one fast migration (see apps/credits/djstripe_migrations/); re-generate it
# when upgrading dj-stripe.
MIGRATION_MODULES = {"djstripe": "apps.credits.djstripe_migrations"}

# ================================================================ 5. cache
# Rendered fragments (gallery cards) shared by every web process; without Redis, per process.
# Rate limits (allauth's login, sign-up and password-reset limits among them) are counted in the
# default cache: Redis when REDIS_URL is set, so every web process shares one count and a restart
# resets nothing. The embedded mode, one process, keeps its in-memory cache.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                "KEY_PREFIX": "darkroom-limits"}
    if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "fragments": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                  "KEY_PREFIX": "darkroom"}
    if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fragments"},
}

# ================================================================ 6. Celery
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "apps.generations.tasks.generation_run_task": {"queue": "io"},
    "apps.generations.tasks.generation_poll_task": {"queue": "io"},
    # The provider webhook endpoint stores a delivery and answers; these tasks apply it (download the
    # outputs, finish the job) or cancel an orphan job at the provider: io, with the runs and polls.
    "apps.generations.tasks.generation_webhook_apply_task": {"queue": "io"},
    "apps.generations.tasks.generation_orphan_cancel_task": {"queue": "io"},
    "apps.media.tasks.upload_derivatives_task": {"queue": "media"},
    # Node runs are sent to the queue their node type names (media, io, default); these are defaults.
    "apps.workflows.tasks.workflow_node_run_task": {"queue": "default"},
    "apps.workflows.tasks.workflow_node_follow_task": {"queue": "io"},
    "apps.hooks.tasks.webhook_deliver_task": {"queue": "io"},
    # The quality judges (CPU: pixels and a small classifier), beside the media work.
    "apps.review.tasks.review_generation_task": {"queue": "media"},
    "apps.ops.tasks.probe_run_task": {"queue": "io"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A killed worker's unacknowledged messages come back after the visibility timeout, found by a sweep
# every `unacked_restore_interval` seconds (kombu's default sweep runs only every 10 × 10 s). A task
# still running when its copy comes back is harmless: leases and state checks drop the copy
# (apps/generations/recovery.py), so the timeout is set by how fast abandoned work must resume.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 45),
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 5),
    "unacked_restore_throttle": 1,
}
if EMBEDDED:
    # The in-process broker polls its queues once a second by default: a workflow step would wait up
    # to a second for each one before it. Poll often; it is a dictionary lookup.
    CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"] = 0.05
# Redis serves a queue's priority lists lowest number first. Everyday work goes to the middle, so a
# job taken back from a dead worker, sent at the recovery priority, runs before the backlog instead
# of behind it (a worker-lost requeue and a fresh send both land at the back).
CELERY_TASK_DEFAULT_PRIORITY = 6
TASK_PRIORITY_RECOVERY = 0
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A generation still queued this long (its message lost with a Redis restart, say) is sent again.
GENERATIONS_REDRIVE_QUEUED_SECONDS = env_int("GENERATIONS_REDRIVE_QUEUED_SECONDS", 30)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The one beat schedule: every periodic task of every app.
CELERY_BEAT_SCHEDULE = {
    "generations-reap-stuck": {
        "task": "apps.generations.tasks.generations_reap_stuck_task",
        # Often, so a job whose worker died resumes within seconds of being found (recovery.py).
        "schedule": float(env_int("GENERATIONS_REAP_SECONDS", 10)),
        "options": {"priority": TASK_PRIORITY_RECOVERY},
    },
    "credits-daily-refresh": {
        "task": "apps.credits.tasks.credits_daily_refresh_task",
        "schedule": crontab(minute=5, hour=0),
    },
    # Everyone's daily spend rows, summed from the users' rows (submits don't write them).
    "credits-spend-totals-refresh": {
        "task": "apps.credits.tasks.credits_spend_totals_refresh_task",
        "schedule": 60.0,
    },
    "core-idempotency-keys-purge": {
        "task": "apps.core.tasks.idempotency_keys_purge_task",
        "schedule": crontab(minute=17),
    },
    "realtime-events-trim": {
        "task": "apps.realtime.tasks.events_trim_task",
        "schedule": crontab(minute="*/10"),
    },
    "hooks-deliveries-due": {
        "task": "apps.hooks.tasks.webhook_deliveries_due_task",
        "schedule": crontab(minute="*"),
    },
    "batches-finish-stale": {
        "task": "apps.batches.tasks.batches_finish_stale_task",
        "schedule": crontab(minute="*"),
    },
    # Deleted library items whose undo window has passed: files removed (a missed countdown's net).
    "library-purge-due": {
        "task": "apps.library.tasks.library_purge_due_task",
        "schedule": crontab(minute="*"),
    },
    "workflows-reap-stuck": {
        "task": "apps.workflows.tasks.workflows_reap_stuck_task",
        "schedule": crontab(minute="*"),
    },
    # Old provider calls, webhook receipts, delivery logs and job samples (RETENTION_* below).
    "ops-retention-prune": {
        "task": "apps.ops.tasks.retention_prune_task",
        "schedule": crontab(minute=41),
    },
}

# ================================================================ 7. Channels (live updates)
if EMBEDDED:
    CHANNEL_LAYERS = {"default": {"BACKEND": "apps.realtime.layers.EmbeddedChannelLayer"}}
else:
    from redis.asyncio.retry import Retry as RedisRetry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times sockets out after 5 s; channels-redis blocks for 5 s per read.
                # After a Redis restart the pool still holds dead sockets, and redis-py's asyncio
                # client retries nothing by default: retry on a fresh connection instead of failing
                # the next websocket connect or live event.
                "hosts": [{
                    "address": REDIS_URL, "socket_timeout": 10,
                    "retry": RedisRetry(ExponentialBackoff(cap=1, base=0.05), 3),
                    "retry_on_error": [RedisConnectionError],
                }],
                "capacity": 1000,
                "prefix": env("CHANNELS_PREFIX", "darkroom"),
            },
        }
    }
    # Live events fan out by Redis PUBLISH/SUBSCRIBE — one command per event instead of a queue per
    # socket polled per message, which at 2,000 sockets fell behind and dropped most events at its
    # capacity (README, Performance). A missed event is re-read from the page or the SSE store, as
    # with any disconnect. CHANNELS_LAYER=core brings back the queue layer.
    if env("CHANNELS_LAYER") != "core":
        CHANNEL_LAYERS["default"]["BACKEND"] = "channels_redis.pubsub.RedisPubSubChannelLayer"
        del CHANNEL_LAYERS["default"]["CONFIG"]["capacity"]

# ================================================================ 8. storage: static files, media, uploads
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the finders so a fresh clone needs no collectstatic.
WHITENOISE_USE_FINDERS = True

MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL")
if AWS_STORAGE_BUCKET_NAME:
    # django-storages reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment itself.
    DEFAULT_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL or None,
            "region_name": env("AWS_S3_REGION_NAME") or None,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 900),
            "file_overwrite": True,
        },
    }
else:
    DEFAULT_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": DEFAULT_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Links to stored images are signed at read time and expire after this many seconds.
FILE_URL_TTL = env_int("FILE_URL_TTL", 3600)

# Content-Security-Policy: scripts and style sheets only from our own static files (no inline
# script, no eval). Inline style attributes stay allowed: templates set server-computed sizes,
# progress widths and BlurHash placeholders with them. Images and video may come from the object
# store's presigned links. No form-action: buying credits redirects a form post to Stripe Checkout.
_FILE_ORIGINS = []
if AWS_STORAGE_BUCKET_NAME:
    _endpoint = urlsplit(AWS_S3_ENDPOINT_URL)
    _FILE_ORIGINS = (
        [f"{_endpoint.scheme}://{_endpoint.netloc}", f"{_endpoint.scheme}://*.{_endpoint.netloc}"]
        if _endpoint.netloc else ["https://*.amazonaws.com"]
    )
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:", "blob:", *_FILE_ORIGINS],
    "media-src": [CSP.SELF, "blob:", *_FILE_ORIGINS],
    "connect-src": [CSP.SELF],  # includes the same-origin ws(s):// live socket
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
}

# Uploads over either limit are refused with 413; the pixel limit is read from the header, before decoding.
MEDIA_MAX_UPLOAD_BYTES = env_int("MEDIA_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
MEDIA_MAX_PIXELS = env_int("MEDIA_MAX_PIXELS", 40_000_000)
# A file part over MEDIA_MAX_UPLOAD_BYTES is dropped while it streams instead of being spooled to disk.
FILE_UPLOAD_HANDLERS = [
    "apps.media.uploads.BoundedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# The largest request body the server reads at all (a photo and its mask in one upload, and room
# for the form around them); a larger one is refused with 413 as it arrives (apps/core/body_limit.py).
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 2 * MEDIA_MAX_UPLOAD_BYTES + 1024 * 1024)
# Library (apps/library): a deleted generation, image or photo can be restored for this many seconds;
# then a task removes its files from storage. Data exports (zips) are kept this many days.
LIBRARY_UNDO_SECONDS = env_int("LIBRARY_UNDO_SECONDS", 20)
LIBRARY_EXPORT_KEEP_DAYS = env_int("LIBRARY_EXPORT_KEEP_DAYS", 7)

# ================================================================ 9. accounts and email
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "generations:generate"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", "none")
ACCOUNT_ADAPTER = "apps.accounts.adapters.AccountAdapter"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = True
# Sign-ups per IP address (allauth's default is 20 a minute); each pays the sign-up grant.
ACCOUNT_RATE_LIMITS = {"signup": env("ACCOUNT_SIGNUP_RATE_LIMIT", "5/10m/ip,20/d/ip")}

EMAIL_HOST = env("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    # Embedded mode prints password-reset mail to the console.
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Darkroom <noreply@localhost>")
# Staff addresses: spend alerts and error mail.
ADMINS = env_list("ADMINS")

# ================================================================ 10. providers
# Each hosted provider: its API base URL (the public one by default) and its credentials. A model
# shows as unavailable until one of its routes has credentials. For the local provider simulator,
# `python -m devtools.simulator --print-env` prints these variables (make run PROVIDER_SIMULATOR_URL=…
# sets them for you).
REPLICATE_BASE_URL = env("REPLICATE_BASE_URL", "https://api.replicate.com")
REPLICATE_API_TOKEN = env("REPLICATE_API_TOKEN")
REPLICATE_WEBHOOK_SECRET = env("REPLICATE_WEBHOOK_SECRET")
FAL_QUEUE_URL = env("FAL_QUEUE_URL", "https://queue.fal.run")
FAL_KEY = env("FAL_KEY")
FAL_JWKS_URL = env("FAL_JWKS_URL", "https://rest.alpha.fal.ai/.well-known/jwks.json")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_API_KEY = env("OPENAI_API_KEY")
STABILITY_BASE_URL = env("STABILITY_BASE_URL", "https://api.stability.ai")
STABILITY_API_KEY = env("STABILITY_API_KEY")
# Provider keys may also be entered in the admin (Providers → Provider credentials); a variable set
# above wins over the stored key. Stored keys are encrypted with this key (any long random string).
# Empty: derived from SECRET_KEY, so a fresh install works at once — set it to rotate SECRET_KEY
# without losing the stored keys. Changing it makes the stored keys unreadable (enter them again).
CREDENTIALS_ENCRYPTION_KEY = env("CREDENTIALS_ENCRYPTION_KEY")
# How long (seconds) a process may use a stored key before reading it again; saving one in the
# admin clears the shared cache at once.
PROVIDER_CREDENTIALS_CACHE_SECONDS = env_int("PROVIDER_CREDENTIALS_CACHE_SECONDS", 30)
# A self-hosted ComfyUI server, e.g. http://gpu-box:8188; empty means none.
COMFYUI_URL = env("COMFYUI_URL")

# Public base URL providers call back on; without it Darkroom relies on polling alone.
PROVIDER_WEBHOOK_BASE_URL = env("PROVIDER_WEBHOOK_BASE_URL")
PROVIDER_POLL_INTERVAL = env_float("PROVIDER_POLL_INTERVAL", 2)
PROVIDER_WEBHOOK_TOLERANCE_SECONDS = 300
# Output downloads: size and time bounds, and whether private addresses (ComfyUI on the LAN, a
# local simulator) may be fetched.
PROVIDER_FETCH_MAX_BYTES = env_int("PROVIDER_FETCH_MAX_BYTES", 50 * 1024 * 1024)
PROVIDER_FETCH_TIMEOUT = env_float("PROVIDER_FETCH_TIMEOUT", 30)
PROVIDER_FETCH_ALLOW_PRIVATE = env_bool("PROVIDER_FETCH_ALLOW_PRIVATE", False)
BREAKER_FAILURE_THRESHOLD = env_int("BREAKER_FAILURE_THRESHOLD", 5)
BREAKER_COOLDOWN_SECONDS = env_int("BREAKER_COOLDOWN_SECONDS", 30)
BREAKER_PROBE_TIMEOUT_SECONDS = env_int("BREAKER_PROBE_TIMEOUT_SECONDS", 60)
# When every route of a model is down at once, a job waits for a breaker cooldown and tries the
# chain again, this many times (within its deadline), before it fails and its credits are released.
GENERATION_OUTAGE_WAITS = env_int("GENERATION_OUTAGE_WAITS", 3)
# A provider said a job finished but reading its result failed (5xx, 429, a timeout) this many times
# in all, one poll apart (PROVIDER_POLL_INTERVAL): the route has failed. The job there is canceled,
# the route counts against its breakers, and the generation moves to the next route.
GENERATION_RESULT_READ_ATTEMPTS = env_int("GENERATION_RESULT_READ_ATTEMPTS", 3)
# A create whose answer was lost (read timeout, connection dropped after sending) may have made a
# billable job. Where its job can surface (a webhook naming our generation), the generation waits
# this long at most (within its deadline) to adopt it, then moves on; a job surfacing later is canceled.
PROVIDER_ADOPT_WAIT_SECONDS = env_float("PROVIDER_ADOPT_WAIT_SECONDS", 60)
# The continuous provider benchmark (apps/ops): every this many minutes (0 = off, the default) a beat
# task sends one tiny probe to each configured route, at most PROVIDER_BENCHMARK_DAILY_PROBES probes a
# day in all (each costs a provider call); PROVIDER_BENCHMARK_ROUTES limits it to some routes
# (provider:model, comma-separated; empty = every configured route). With PROVIDER_BENCHMARK_BREAKER,
# a probe's failure counts against the route's breakers like a job's.
PROVIDER_BENCHMARK_MINUTES = env_int("PROVIDER_BENCHMARK_MINUTES", 0)
PROVIDER_BENCHMARK_DAILY_PROBES = env_int("PROVIDER_BENCHMARK_DAILY_PROBES", 200)
PROVIDER_BENCHMARK_ROUTES = env_list("PROVIDER_BENCHMARK_ROUTES")
PROVIDER_BENCHMARK_BREAKER = env_bool("PROVIDER_BENCHMARK_BREAKER", True)
if PROVIDER_BENCHMARK_MINUTES > 0:  # its one entry in the beat schedule (section 6), only when on
    CELERY_BEAT_SCHEDULE["ops-provider-benchmark"] = {
        "task": "apps.ops.tasks.benchmark_round_task", "schedule": float(PROVIDER_BENCHMARK_MINUTES * 60),
    }
# Outputs are refused (and the job moves to the next route, uncharged) when they are a single
# colour (no ~16 px tile of the full-size grey image spreads this far, as a standard deviation
# of 0–255 levels), all black (mean below this and no point brighter than 64), shaped unlike
# the request (|log of the ratio difference| above this) or the input image unchanged.
OUTPUT_MIN_STDDEV = env_float("OUTPUT_MIN_STDDEV", 3)
OUTPUT_MIN_MEAN = env_float("OUTPUT_MIN_MEAN", 4)
OUTPUT_MAX_RATIO_DRIFT = env_float("OUTPUT_MAX_RATIO_DRIFT", 0.35)

# The offline engine (no provider needed): steps per image, delay per step, a failure rate for
# demos and fault tests, and the frames per second of its motion clips.
OFFLINE_ENGINE_STEPS = env_int("OFFLINE_ENGINE_STEPS", 12)
OFFLINE_ENGINE_STEP_DELAY_MS = env_int("OFFLINE_ENGINE_STEP_DELAY_MS", 180)
OFFLINE_ENGINE_FAILURE_RATE = env_float("OFFLINE_ENGINE_FAILURE_RATE", 0)
OFFLINE_MOTION_FPS = env_int("OFFLINE_MOTION_FPS", 24)

# ================================================================ 11. payments (Stripe) and credits
# Stripe Checkout through dj-stripe. Without a secret key the buy buttons say purchases are off.
# For the local Stripe fake, `python -m devtools.stripe_fake --print-env` prints these variables
# (make run STRIPE_FAKE_URL=… sets them for you).
STRIPE_API_BASE = env("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY")
STRIPE_PUBLIC_KEY = STRIPE_PUBLISHABLE_KEY
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
# The signing secret of the Stripe webhook endpoint; `migrate` keeps dj-stripe's endpoint row in
# step with it. Register SITE_URL + the path `manage.py credits_stripe_webhook` prints with Stripe.
DJSTRIPE_WEBHOOK_SECRET = env("DJSTRIPE_WEBHOOK_SECRET")
DJSTRIPE_WEBHOOK_UUID = env("DJSTRIPE_WEBHOOK_UUID")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"

SIGNUP_GRANT_CREDITS = env_int("SIGNUP_GRANT_CREDITS", 100)
# Free credits: each UTC day a beat task tops every balance below this up to it (0 = off).
DAILY_FREE_CREDITS = env_int("DAILY_FREE_CREDITS", 10)
# Below this balance the header nudges people to buy credits.
LOW_BALANCE_CREDITS = env_int("LOW_BALANCE_CREDITS", 10)
# Credits charged when an identical deterministic request is served from stored results.
RESULT_CACHE_PRICE = env_int("RESULT_CACHE_PRICE", 0)
# A catalogue tier without a price is priced from its dearest route's provider cost (`cost` in
# catalog.toml): cost × (1 + CREDIT_MARGIN) ÷ CREDIT_VALUE_USD, rounded up (apps/catalog/pricing.py).
CREDIT_MARGIN = env_float("CREDIT_MARGIN", 0.25)
# What one credit is worth in US dollars, for pricing from provider costs.
CREDIT_VALUE_USD = env_float("CREDIT_VALUE_USD", 0.01)
# Auto model choice: an OpenAI-compatible chat endpoint (base URL, e.g. http://127.0.0.1:11434/v1)
# that checks the intent the rules read from a text prompt; empty = the rules alone.
AUTO_MODEL_CHAT_URL = env("AUTO_MODEL_CHAT_URL", "")
AUTO_MODEL_CHAT_MODEL = env("AUTO_MODEL_CHAT_MODEL", "")
AUTO_MODEL_CHAT_API_KEY = env("AUTO_MODEL_CHAT_API_KEY", "")
AUTO_MODEL_CHAT_TIMEOUT = env_float("AUTO_MODEL_CHAT_TIMEOUT", 3)
# Credits a local image step (upscale, remove background, …) costs in a workflow run; 0 = free.
WORKFLOW_LOCAL_OPERATION_CREDITS = env_int("WORKFLOW_LOCAL_OPERATION_CREDITS", 0)
# What one credit brings in, in US dollars: the admin's costs and margin page sets credits charged
# against provider dollars with it (your packages' price per credit, e.g. 10 USD for 1000 = 0.01).
CREDIT_VALUE_USD = env_float("CREDIT_VALUE_USD", 0.01)

# ================================================================ 12. limits
# Limits on submissions, enforced in the database across processes; 0 switches one off.
RATE_LIMIT_GENERATIONS_PER_HOUR = env_int("RATE_LIMIT_GENERATIONS_PER_HOUR", 300)
RATE_LIMIT_CONCURRENT_JOBS = env_int("RATE_LIMIT_CONCURRENT_JOBS", 32)
USER_DAILY_SPEND_CAP = env_int("USER_DAILY_SPEND_CAP", 5000)
GLOBAL_DAILY_BUDGET = env_int("GLOBAL_DAILY_BUDGET", 0)
# Staff are alerted (log warning + mail to ADMINS) once a day when all users' spend passes this.
DAILY_SPEND_ALERT_CREDITS = env_int("DAILY_SPEND_ALERT_CREDITS", 10000)
# …and once a day when what the providers billed for the day's calls (estimated from the catalogue's
# route costs) passes this many US dollars; 0 = off.
DAILY_PROVIDER_SPEND_ALERT_USD = env_float("DAILY_PROVIDER_SPEND_ALERT_USD", 100)
# Video outputs: the longest clip and the most pixels a frame may have; larger ones are refused.
VIDEO_MAX_SECONDS = env_float("VIDEO_MAX_SECONDS", 60)
VIDEO_MAX_PIXELS = env_int("VIDEO_MAX_PIXELS", 3840 * 2160)
# Batches: most generations one batch may hold (one batch is one job for RATE_LIMIT_CONCURRENT_JOBS).
BATCH_MAX_ITEMS = env_int("BATCH_MAX_ITEMS", 500)
# Most API keys (not revoked) and webhook endpoints one person may hold; creating one more is a 409.
API_KEYS_MAX_PER_USER = env_int("API_KEYS_MAX_PER_USER", 20)
WEBHOOK_ENDPOINTS_MAX_PER_USER = env_int("WEBHOOK_ENDPOINTS_MAX_PER_USER", 20)
WORKFLOW_MAX_NODES = env_int("WORKFLOW_MAX_NODES", 100)
# Shared images (apps/gallery): how long browsers and CDNs may keep a shared file (its URL never
# changes while shared; making it private stops the URL at once, a CDN copy at this age), and how
# many reports one user or address may send per hour.
GALLERY_SHARE_MAX_AGE = env_int("GALLERY_SHARE_MAX_AGE", 86400)
GALLERY_REPORTS_PER_HOUR = env_int("GALLERY_REPORTS_PER_HOUR", 10)
NINJA_PAGINATION_MAX_LIMIT = 100

# ================================================================ 13. product features
CATALOG_FILE = BASE_DIR / "apps" / "catalog" / "catalog.toml"

# Media derivatives: long edge in pixels of the WebP web preview and thumbnail; "auto" makes them
# with pyvips when it imports (faster on PNG), else Pillow; or "pillow", "pyvips".
MEDIA_PREVIEW_EDGE = env_int("MEDIA_PREVIEW_EDGE", 1536)
MEDIA_THUMBNAIL_EDGE = env_int("MEDIA_THUMBNAIL_EDGE", 512)
MEDIA_IMAGE_BACKEND = env("MEDIA_IMAGE_BACKEND", "auto")

# Estimated progress and the ETA on a card: each model's P50 and P95 time to result, learned from
# its last PROGRESS_LEARNING_SAMPLES successes of the last PROGRESS_LEARNING_DAYS days (recomputed
# every PROGRESS_LEARNING_CACHE_SECONDS); with fewer than PROGRESS_LEARNING_MIN_SAMPLES, the
# catalogue's typical_seconds.
PROGRESS_LEARNING_SAMPLES = env_int("PROGRESS_LEARNING_SAMPLES", 200)
PROGRESS_LEARNING_DAYS = env_int("PROGRESS_LEARNING_DAYS", 7)
PROGRESS_LEARNING_MIN_SAMPLES = env_int("PROGRESS_LEARNING_MIN_SAMPLES", 10)
PROGRESS_LEARNING_CACHE_SECONDS = env_int("PROGRESS_LEARNING_CACHE_SECONDS", 300)

# Workflows.
WORKFLOW_STARTERS_FILE = BASE_DIR / "apps" / "workflows" / "starters.toml"
# A generate step finishes when its generation announces its end (a GenerationFinished event); as a safety
# net it also checks on it this often, at most this many times (then gives up): 20 minutes.
WORKFLOW_FOLLOW_INTERVAL = env_float("WORKFLOW_FOLLOW_INTERVAL", 5)
WORKFLOW_FOLLOW_MAX_POLLS = env_int("WORKFLOW_FOLLOW_MAX_POLLS", 240)
# A local step running this long had its worker die: another worker takes it over.
WORKFLOW_NODE_STALE_SECONDS = env_int("WORKFLOW_NODE_STALE_SECONDS", 600)

# Developer platform (API, events, webhooks, OpenAI-compatible /v1).
# Idempotency-Key: how long a repeat waits for the first request with its key to finish before
# answering 409 "in progress".
IDEMPOTENCY_WAIT_SECONDS = env_float("IDEMPOTENCY_WAIT_SECONDS", 5)
# Live events kept for SSE clients to resume from (Last-Event-ID); one SSE response lasts this many
# seconds, checks for new events this often and sends a keep-alive comment when idle this long.
EVENTS_RETENTION_HOURS = env_int("EVENTS_RETENTION_HOURS", 24)
EVENTS_STREAM_SECONDS = env_float("EVENTS_STREAM_SECONDS", 60)
EVENTS_POLL_SECONDS = env_float("EVENTS_POLL_SECONDS", 0.5)
EVENTS_KEEPALIVE_SECONDS = env_float("EVENTS_KEEPALIVE_SECONDS", 15)
EVENTS_RETRY_MS = 1000
# Outgoing webhooks: request timeout, and whether endpoints may be on private, loopback or
# link-local addresses (and plain http) — off in production, on for a LAN or local receiver.
WEBHOOKS_TIMEOUT_SECONDS = env_float("WEBHOOKS_TIMEOUT_SECONDS", 15)
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
# OpenAI-compatible /v1/images/*: the catalogue slugs dall-e-2/dall-e-3 (and no model) map to, for
# generations and for edits (empty: the first available model that can, hosted before offline),
# and how often a waiting request checks on its generation.
OPENAI_COMPAT_DEFAULT_MODEL = env("OPENAI_COMPAT_DEFAULT_MODEL")
OPENAI_COMPAT_EDIT_MODEL = env("OPENAI_COMPAT_EDIT_MODEL")
OPENAI_COMPAT_POLL_SECONDS = env_float("OPENAI_COMPAT_POLL_SECONDS", 0.5)
# A waiting /v1 request is woken by its generation's end; it re-reads the row this often only in
# case that notice was lost (each re-read costs the web process CPU while many requests wait).
OPENAI_COMPAT_WAIT_RECHECK_SECONDS = env_float("OPENAI_COMPAT_WAIT_RECHECK_SECONDS", 5.0)

# Review (apps/review). The offline judges need nothing. Optional hosted judges, each any
# OpenAI-compatible endpoint (base URL ending in /v1, a key, a model): a vision model that reads the
# image against a per-task rubric, with a time budget past which the image is "not reviewed" (300 s
# is what such judges were measured to need), and a /v1/moderations endpoint for prompts.
REVIEW_VISION_URL = env("REVIEW_VISION_URL")
REVIEW_VISION_API_KEY = env("REVIEW_VISION_API_KEY")
REVIEW_VISION_MODEL = env("REVIEW_VISION_MODEL", "gpt-4o-mini")
REVIEW_VISION_TIMEOUT_SECONDS = env_float("REVIEW_VISION_TIMEOUT_SECONDS", 300)
REVIEW_MODERATION_URL = env("REVIEW_MODERATION_URL")
REVIEW_MODERATION_API_KEY = env("REVIEW_MODERATION_API_KEY")
REVIEW_MODERATION_MODEL = env("REVIEW_MODERATION_MODEL", "omni-moderation-latest")
REVIEW_MODERATION_TIMEOUT_SECONDS = env_float("REVIEW_MODERATION_TIMEOUT_SECONDS", 5)

# ================================================================ 14. observability
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "apps.core.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "pyvips": {"level": "WARNING"},  # libvips narrates every thumbnail at INFO
    },
}

# GET /metrics (Prometheus text): scraped with `Authorization: Bearer <METRICS_TOKEN>` or opened by
# staff; quantiles of phase timings cover the generations created in the last window.
METRICS_TOKEN = env("METRICS_TOKEN")
METRICS_WINDOW_SECONDS = env_int("METRICS_WINDOW_SECONDS", 900)
# Retention of the append-only operational tables, in days (0 keeps them for ever), pruned hourly in
# batches: provider calls (the ops latency and error data), provider webhook receipts, outgoing
# webhook delivery logs (pending deliveries are kept) and the ops job samples and benchmark probes
# (the dashboard's 7-day window needs 7). Live events: EVENTS_RETENTION_HOURS.
RETENTION_PROVIDER_CALLS_DAYS = env_int("RETENTION_PROVIDER_CALLS_DAYS", 30)
RETENTION_WEBHOOK_RECEIPTS_DAYS = env_int("RETENTION_WEBHOOK_RECEIPTS_DAYS", 14)
RETENTION_DELIVERY_LOGS_DAYS = env_int("RETENTION_DELIVERY_LOGS_DAYS", 30)
RETENTION_JOB_SAMPLES_DAYS = env_int("RETENTION_JOB_SAMPLES_DAYS", 90)
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 5000)
# GET /readyz: each dependency (database, Redis, broker, storage) must answer within this many seconds.
READYZ_TIMEOUT_SECONDS = env_float("READYZ_TIMEOUT_SECONDS", 2)

# OpenTelemetry traces (web → Celery → provider calls) over OTLP/HTTP to this collector, e.g.
# http://otel-collector:4318; empty: no tracing. The exporter also reads the standard OTEL_*
# variables (headers, timeout, compression) itself.
OTEL_EXPORTER_OTLP_ENDPOINT = env("OTEL_EXPORTER_OTLP_ENDPOINT")
OTEL_SERVICE_NAME = env("OTEL_SERVICE_NAME", "darkroom")

SENTRY_DSN = env("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", "production"),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0),
        send_default_pii=False,
    )
