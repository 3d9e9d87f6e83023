"""Provider keys: the environment first, then the key staff stored in the admin (encrypted).

The stored keys are read through the shared cache (Redis in production), so every web and worker
process sees a key saved in the admin within one cache read: saving clears the entry at once, and
entries expire after PROVIDER_CREDENTIALS_CACHE_SECONDS in any case. The cache holds the encrypted
keys only; each use decrypts.
"""

import base64
import functools
import logging

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.cache import cache

from .models import ProviderCredential

logger = logging.getLogger(__name__)

# The setting holding each hosted provider's key in the environment.
ENV_SETTINGS = {
    "replicate": "REPLICATE_API_TOKEN",
    "fal": "FAL_KEY",
    "openai": "OPENAI_API_KEY",
    "stability": "STABILITY_API_KEY",
}
CACHE_KEY = "providers:credentials:v1"


def fernet() -> Fernet:
    """The cipher for stored keys: HKDF-SHA256 of CREDENTIALS_ENCRYPTION_KEY (or, unset, of SECRET_KEY)."""
    return cipher_for((settings.CREDENTIALS_ENCRYPTION_KEY or settings.SECRET_KEY).encode())


@functools.lru_cache(maxsize=4)
def cipher_for(material: bytes) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"darkroom provider credentials").derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    """The stored key, or "" when it cannot be read (the encryption key changed)."""
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        logger.warning("a stored provider key could not be decrypted (was the encryption key changed?)")
        return ""


def env_secret(provider: str) -> str:
    name = ENV_SETTINGS.get(provider)
    return getattr(settings, name, "") if name else ""


def stored_tokens() -> dict[str, str]:
    """Every stored key, encrypted, by provider (one cache read; the database on a miss)."""
    tokens = cache.get(CACHE_KEY)
    if tokens is None:
        tokens = dict(ProviderCredential.objects.exclude(secret_encrypted="").values_list("provider", "secret_encrypted"))
        cache.set(CACHE_KEY, tokens, settings.PROVIDER_CREDENTIALS_CACHE_SECONDS)
    return tokens


def stored_secret(provider: str) -> str:
    return decrypt(stored_tokens().get(provider, ""))


def provider_secret(provider: str) -> str:
    """The key to call `provider` with: its environment variable when set, else the stored one."""
    return env_secret(provider) or stored_secret(provider)


def secret_source(provider: str) -> str:
    """Where the key in use comes from: "environment", "stored" or "" (none)."""
    if env_secret(provider):
        return "environment"
    return "stored" if stored_secret(provider) else ""


def forget_cached() -> None:
    """Drop the shared cache entry (after a stored key changes)."""
    cache.delete(CACHE_KEY)
