def user_group(user_id) -> str:
    return f"user.{user_id}"
