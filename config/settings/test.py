"""Test overrides: PostgreSQL and Redis are real; the outside world is faked on loopback."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/darkroom")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-for-django-checks-0123456789")

from .base import *  # noqa: E402,F403
from .base import VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

# Unit tests run tasks inline at commit and publish through an in-memory layer; the live tests
# start real daphne and Celery processes with the production settings instead.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

MEDIA_ROOT = VAR_DIR / "test-media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

OFFLINE_ENGINE_STEP_DELAY_MS = 0
OFFLINE_ENGINE_STEPS = 4
OFFLINE_ENGINE_FAILURE_RATE = 0.0
# Unit tests see an all-routes-down job fail at once; tests of the wait turn it on themselves.
GENERATION_OUTAGE_WAITS = 0
