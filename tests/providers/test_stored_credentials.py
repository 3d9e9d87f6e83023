"""Provider keys entered in the admin: encrypted at rest, the environment first, used at once,
tested against the provider (the simulator, over real HTTP)."""

import pytest
from django.core.cache import cache

from apps.catalog.models import CatalogModel
from apps.catalog.selectors import NOT_CONFIGURED, catalog_model_availability
from apps.core.models import StaffAction
from apps.providers import credentials, services
from apps.providers.adapters.replicate import ReplicateAdapter
from apps.providers.models import ProviderCredential
from devtools import standins

CHANGE = "/admin/providers/providercredential/{}/change/"


@pytest.fixture
def no_env_keys(settings):
    for name in credentials.ENV_SETTINGS.values():
        setattr(settings, name, "")
    settings.COMFYUI_URL = ""


def store(provider, secret, actor=None, *, capture):
    with capture(execute=True):
        return services.provider_credential_set(provider=provider, secret=secret, actor=actor)


def test_a_stored_key_is_encrypted_and_used_when_no_variable_is_set(db, no_env_keys, settings,
                                                                   django_capture_on_commit_callbacks):
    assert ReplicateAdapter.is_configured() is False
    row = store("replicate", "  r8_stored_token_1234  ", capture=django_capture_on_commit_callbacks)
    row.refresh_from_db()
    assert "r8_stored" not in row.secret_encrypted
    assert row.last4 == "1234"
    assert credentials.decrypt(row.secret_encrypted) == "r8_stored_token_1234"
    assert ReplicateAdapter.is_configured() is True
    assert ReplicateAdapter.api_credentials()[1] == {"Authorization": "Bearer r8_stored_token_1234"}
    assert credentials.secret_source("replicate") == "stored"
    # The environment wins where it is set.
    settings.REPLICATE_API_TOKEN = "r8_from_env"
    assert ReplicateAdapter.api_credentials()[1] == {"Authorization": "Bearer r8_from_env"}
    assert credentials.secret_source("replicate") == "environment"


def test_the_shared_cache_is_cleared_when_a_key_changes(db, no_env_keys, django_capture_on_commit_callbacks):
    assert credentials.provider_secret("fal") == ""
    assert cache.get(credentials.CACHE_KEY) == {}  # read once, shared by every process
    store("fal", "id:first-secret", capture=django_capture_on_commit_callbacks)
    assert credentials.provider_secret("fal") == "id:first-secret"
    store("fal", "id:second-secret", capture=django_capture_on_commit_callbacks)
    assert credentials.provider_secret("fal") == "id:second-secret"
    with django_capture_on_commit_callbacks(execute=True):
        services.provider_credential_clear(provider="fal", actor=None)
    assert credentials.provider_secret("fal") == ""


def test_a_key_from_another_encryption_key_reads_as_not_set(db, no_env_keys, settings,
                                                           django_capture_on_commit_callbacks):
    store("openai", "sk-stored-openai", capture=django_capture_on_commit_callbacks)
    settings.CREDENTIALS_ENCRYPTION_KEY = "a-different-key-entirely-0123456789"
    assert credentials.provider_secret("openai") == ""


@pytest.mark.parametrize("secret, message", [
    ("short", "A key is at least 8 characters, with no spaces."),
    ("has a space in it", "A key is at least 8 characters, with no spaces."),
])
def test_bad_keys_are_refused_with_a_reason(db, secret, message):
    with pytest.raises(services.CredentialInvalidError) as raised:
        services.provider_credential_set(provider="replicate", secret=secret, actor=None)
    assert raised.value.message == message
    assert not ProviderCredential.objects.filter(provider="replicate").exclude(secret_encrypted="").exists()


def test_each_change_is_audited_without_the_key(db, no_env_keys, admin_user, django_capture_on_commit_callbacks):
    store("stability", "sk-first-abcd", admin_user, capture=django_capture_on_commit_callbacks)
    store("stability", "sk-second-wxyz", admin_user, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.provider_credential_clear(provider="stability", actor=admin_user)
    actions = list(StaffAction.objects.order_by("id").values_list("action", "target_label", "changes", "actor_id"))
    assert actions == [
        ("credentials.set", "stability", {"key": ["not set", "set, ending …abcd"]}, admin_user.pk),
        ("credentials.set", "stability", {"key": ["set, ending …abcd", "set, ending …wxyz"]}, admin_user.pk),
        ("credentials.clear", "stability", {"key": ["set, ending …wxyz", "not set"]}, admin_user.pk),
    ]


@pytest.mark.parametrize("provider, good", [
    ("replicate", standins.REPLICATE_API_TOKEN), ("fal", standins.FAL_KEY),
    ("openai", standins.OPENAI_API_KEY), ("stability", standins.STABILITY_API_KEY),
])
def test_test_connection_accepts_the_right_key_and_names_a_refusal(db, simulator, no_env_keys, provider, good,
                                                                   django_capture_on_commit_callbacks):
    store(provider, good, capture=django_capture_on_commit_callbacks)
    check = services.provider_connection_test(provider=provider)
    assert check == services.ConnectionCheck(True, "Connected: the provider accepted the key (stored key).")
    store(provider, "wrong-key-0000", capture=django_capture_on_commit_callbacks)
    check = services.provider_connection_test(provider=provider)
    assert check == services.ConnectionCheck(False, "The provider refused the key (HTTP 401).")
    row = ProviderCredential.objects.get(provider=provider)
    assert (row.test_ok, row.test_message) == (False, "The provider refused the key (HTTP 401).")


def test_test_connection_without_a_key_or_a_provider(db, no_env_keys, settings):
    assert services.provider_connection_test(provider="fal") == services.ConnectionCheck(
        False, "No key is set (neither an environment variable nor a stored key).")
    settings.REPLICATE_BASE_URL = "http://127.0.0.1:1/replicate"
    settings.REPLICATE_API_TOKEN = "r8_env_token"
    assert services.provider_connection_test(provider="replicate") == services.ConnectionCheck(
        False, "Could not reach the provider (ConnectError).")


def test_staff_paste_a_key_in_the_admin_and_the_model_becomes_available(
        simulator, no_env_keys, catalog, admin_client, django_capture_on_commit_callbacks):
    flux = CatalogModel.objects.get(slug="flux-dev")
    assert catalog_model_availability(flux).reason == NOT_CONFIGURED
    row, _ = ProviderCredential.objects.get_or_create(provider="replicate")  # made by a migration
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(CHANGE.format(row.pk), {"new_key": standins.REPLICATE_API_TOKEN}, follow=True)
    page = response.content.decode()
    assert "Replicate: Connected: the provider accepted the key (stored key)." in page
    assert standins.REPLICATE_API_TOKEN not in page
    assert catalog_model_availability(flux).available is True
    page = admin_client.get(CHANGE.format(row.pk)).content.decode()
    assert "set, ending …ated" in page
    assert standins.REPLICATE_API_TOKEN not in page


def test_the_admin_form_explains_a_bad_key(db, no_env_keys, admin_client):
    row, _ = ProviderCredential.objects.get_or_create(provider="openai")
    response = admin_client.post(CHANGE.format(row.pk), {"new_key": "tiny"})
    assert response.status_code == 200
    assert "A key is at least 8 characters, with no spaces." in response.content.decode()
    assert ProviderCredential.objects.get(provider="openai").secret_encrypted == ""


def test_the_test_connection_action_reports_each_provider(db, simulator, no_env_keys, admin_client,
                                                          django_capture_on_commit_callbacks):
    store("fal", standins.FAL_KEY, capture=django_capture_on_commit_callbacks)
    store("openai", "sk-not-the-simulators-key", capture=django_capture_on_commit_callbacks)
    rows = ProviderCredential.objects.filter(provider__in=["fal", "openai"]).order_by("provider")
    response = admin_client.post("/admin/providers/providercredential/", {
        "action": "test_connection", "_selected_action": [str(row.pk) for row in rows]}, follow=True)
    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["fal: Connected: the provider accepted the key (stored key).",
                        "openai: The provider refused the key (HTTP 401)."]
