"""Profile rules shared by the services and the forms: what a handle may be, what a link may be."""

import re
from urllib.parse import urlsplit

from apps.core.exceptions import ApplicationError

HANDLE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{1,28}[a-z0-9])$", re.IGNORECASE)
MAX_LINKS = 3
# Words a handle may not be: they name pages of the site, or could pass for its staff.
RESERVED_HANDLES = frozenset({
    "about", "account", "accounts", "admin", "administrator", "api", "app", "blog", "collections", "credits",
    "darkroom", "docs", "explore", "following", "generate", "generations", "help", "home", "images", "login",
    "logout", "me", "mod", "moderator", "models", "new", "official", "photos", "pricing", "root", "security",
    "settings", "signup", "staff", "static", "support", "system", "u", "user", "users", "webhooks", "workflows",
})


class InvalidHandleError(ApplicationError):
    code = "invalid_handle"
    http_status = 422
    default_message = "A handle is 3 to 30 letters, digits, '-' or '_', starting and ending with a letter or digit."


class HandleTakenError(ApplicationError):
    code = "handle_taken"
    http_status = 409
    default_message = "That handle is taken: choose another."


class InvalidLinkError(ApplicationError):
    code = "invalid_link"
    http_status = 422
    default_message = f"Links are up to {MAX_LINKS} http or https addresses."


def handle_clean(handle: str) -> str:
    handle = (handle or "").strip().lstrip("@")
    if not HANDLE_RE.match(handle):
        raise InvalidHandleError()
    if handle.lower() in RESERVED_HANDLES:
        raise HandleTakenError("That handle is reserved: choose another.")
    return handle


def links_clean(links: list[str]) -> list[str]:
    cleaned = [link.strip() for link in links if link and link.strip()]
    if len(cleaned) > MAX_LINKS:
        raise InvalidLinkError()
    for link in cleaned:
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.hostname or len(link) > 300 or " " in link:
            raise InvalidLinkError(f"Not a web address: {link[:80]}")
    return cleaned


def handle_base_from_email(email: str) -> str:
    """A starting point for a new account's handle: the address's local part, tidied."""
    base = re.sub(r"[^a-z0-9_-]+", "-", email.split("@", 1)[0].lower()).strip("-_")[:24]
    if len(base) < 3 or base in RESERVED_HANDLES:
        base = f"artist-{base}".strip("-_")[:24] if base else "artist"
    return base
