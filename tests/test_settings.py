"""The settings module in its two shapes, checked the way an operator would run them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.base",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "k" * 20 + "production-secret-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "darkroom.example.com",
    "SECURE_SSL": "true",
}


def manage(*args: str, env: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**clean, "DARKROOM_VAR_DIR": str(tmp_path), **env},
    )


def test_check_deploy_is_clean_with_production_variables(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "code, expected",
    [
        ("settings.DEBUG", "False"),
        ("settings.DATABASES['default']['ENGINE']", "django.db.backends.postgresql"),
        ("settings.CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        ("settings.CHANNEL_LAYERS['default']['BACKEND']", "channels_redis.pubsub.RedisPubSubChannelLayer"),
        ("settings.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['socket_timeout']", "10"),
        ("settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE", "True"),
    ],
)
def test_production_shape(tmp_path, code, expected):
    result = manage("shell", "--no-imports", "-c", f"from django.conf import settings; print({code})", env=PRODUCTION, tmp_path=tmp_path)
    assert result.stdout.strip() == expected, result.stderr


def test_embedded_defaults_need_no_environment(tmp_path):
    code = (
        "from django.conf import settings; print(settings.DEBUG, settings.DATABASES['default']['ENGINE'], "
        "settings.CELERY_BROKER_URL, settings.CHANNEL_LAYERS['default']['BACKEND'], settings.EMAIL_BACKEND)"
    )
    result = manage("shell", "--no-imports", "-c", code, env={"DJANGO_SETTINGS_MODULE": "config.settings.base"}, tmp_path=tmp_path)
    assert result.stdout.split() == [
        "False", "django.db.backends.sqlite3", "memory://localhost/", "apps.realtime.layers.EmbeddedChannelLayer",
        "django.core.mail.backends.console.EmailBackend",
    ], result.stderr
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
