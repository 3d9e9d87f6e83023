"""What every face-swap route shares: how a photo without a face is told apart and told to users."""

import re

NO_FACE_CODE = "no_face"
# Hosted face-swap models fail such a job with an error text only ("No face detected in the swap image").
NO_FACE_ERROR = re.compile(r"no faces? (?:was |were )?(?:detected|found)", re.IGNORECASE)
# Which photo the text names: the face to use ("swap"/"source"/"face") or the photo to change.
FACE_PHOTO_WORDS = re.compile(r"\b(?:swap|source|face photo|face image)\b", re.IGNORECASE)


def no_face_message(which: str) -> str:
    """`which`: "photo" (the one to change) or "face photo" (the face to put on it)."""
    return f"No face found in the {which}. Use a clear, front-facing photo of a face. You were not charged."


def no_face_message_from(provider_text: str) -> str:
    return no_face_message("face photo" if FACE_PHOTO_WORDS.search(provider_text or "") else "photo")
