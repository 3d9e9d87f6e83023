import hashlib


def user_group(user_id) -> str:
    return f"user.{user_id}"


def session_group(session_key: str) -> str:
    """The sockets opened with one session (hashed: group names are kept in Redis)."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]
