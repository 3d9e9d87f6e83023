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


# ---------------------------------------------------------------- every variable documented, no stand-ins

import ast  # noqa: E402
import re  # noqa: E402

SETTINGS_DIR = ROOT / "config" / "settings"
ENV_HELPERS = {"env", "env_bool", "env_int", "env_float", "env_list"}


def _os_environ(node) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)
            and node.value.id == "os")


def variables_read_by_settings() -> dict[str, str]:
    """Every environment variable config/settings/*.py reads — env(), env_bool(), env_int(),
    env_float(), env_list(), os.environ.get/setdefault/[…], os.getenv() — with where."""
    found = {}
    for path in sorted(SETTINGS_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            name = None
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                if (
                    (isinstance(func, ast.Name) and func.id in ENV_HELPERS)
                    or (isinstance(func, ast.Attribute) and func.attr in {"get", "setdefault", "pop"}
                        and _os_environ(func.value))
                    or (isinstance(func, ast.Attribute) and func.attr == "getenv"
                        and isinstance(func.value, ast.Name) and func.value.id == "os")
                ):
                    name = node.args[0].value
            elif (isinstance(node, ast.Subscript) and _os_environ(node.value)
                  and isinstance(node.slice, ast.Constant)):
                name = node.slice.value
            if isinstance(name, str):
                found.setdefault(name, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_settings_parser_finds_the_reads():
    found = variables_read_by_settings()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DATABASE_POOL", "REPLICATE_API_TOKEN"} <= set(found)
    assert len(found) > 90, sorted(found)


def test_env_example_lists_every_variable_the_settings_read():
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = {name: where for name, where in variables_read_by_settings().items() if name not in listed}
    assert not missing, f".env.example misses {missing}"


def test_the_configuration_doc_lists_every_variable_the_settings_read():
    documented = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", (ROOT / "docs" / "configuration.md").read_text(),
                                re.MULTILINE))
    missing = {name: where for name, where in variables_read_by_settings().items() if name not in documented}
    assert not missing, f"docs/configuration.md misses {missing}"


def test_no_stand_in_key_or_fake_url_lives_in_the_settings():
    from devtools import standins

    stand_ins = {
        *standins.SIMULATOR_CREDENTIALS.values(), standins.STRIPE_SECRET_KEY, standins.STRIPE_PUBLISHABLE_KEY,
        standins.STRIPE_WEBHOOK_SECRET, *standins.SIMULATOR_PATHS.values(),
    }
    for path in SETTINGS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                   and isinstance(node.value, str)} - {ast.get_docstring(tree, clean=False)}
        assert not stand_ins & strings, f"{path.name} holds stand-ins {stand_ins & strings}"
        suspicious = [s for s in strings if re.search(r"simulat|fake|whsec_|sk_test_|pk_test_|r8_", s, re.I)]
        assert not suspicious, f"{path.name}: {suspicious}"
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [m for m in imported if m.startswith("devtools")], f"{path.name} imports the developer tools"


def test_the_simulator_shorthand_expands_into_the_real_provider_variables(tmp_path):
    """`make run PROVIDER_SIMULATOR_URL=…` (devtools.env) gives the settings every provider's URL
    and the keys the simulator accepts."""
    from devtools import standins

    url = "http://127.0.0.1:8800"
    code = ("from django.conf import settings; print(settings.REPLICATE_BASE_URL, settings.REPLICATE_API_TOKEN, "
            "settings.FAL_KEY, settings.COMFYUI_URL, settings.PROVIDER_FETCH_ALLOW_PRIVATE)")
    result = subprocess.run(
        [sys.executable, "-m", "devtools.env", sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}},
             "DJANGO_SETTINGS_MODULE": "config.settings.base", "DARKROOM_VAR_DIR": str(tmp_path),
             "PROVIDER_SIMULATOR_URL": url},
    )
    assert result.stdout.split() == [
        f"{url}/replicate", standins.REPLICATE_API_TOKEN, standins.FAL_KEY, f"{url}/comfyui", "True",
    ], result.stderr
    # Without the shorthand nothing points anywhere local and no key is set.
    result = manage("shell", "--no-imports", "-c", code, env={"DJANGO_SETTINGS_MODULE": "config.settings.base"},
                    tmp_path=tmp_path)
    assert result.stdout.split() == ["https://api.replicate.com", "False"], result.stdout + result.stderr
