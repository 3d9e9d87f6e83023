"""Naming a library item: a generation, one generated image (or clip), or a photo (an upload)."""

import uuid
from dataclasses import dataclass

from .exceptions import InvalidItemError

GENERATION, IMAGE, PHOTO = "generation", "image", "photo"
KINDS = (GENERATION, IMAGE, PHOTO)


@dataclass(frozen=True)
class ItemRef:
    kind: str
    id: str

    @classmethod
    def parse(cls, kind: str, item_id) -> "ItemRef":
        """Checked: a generation or photo by UUID, an image by its number."""
        try:
            if kind in (GENERATION, PHOTO):
                return cls(kind, str(uuid.UUID(str(item_id))))
            if kind == IMAGE:
                return cls(kind, str(int(str(item_id))))
        except ValueError:
            pass
        raise InvalidItemError()

    @classmethod
    def from_token(cls, token: str) -> "ItemRef":
        """`image:12`, `photo:<uuid>`, `generation:<uuid>` (form fields and page links)."""
        kind, _, item_id = str(token).partition(":")
        return cls.parse(kind, item_id)

    @property
    def token(self) -> str:
        return f"{self.kind}:{self.id}"
