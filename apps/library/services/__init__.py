"""Every write of the library, by concern (deletion, stars and collections, export, account)."""

from .account import account_delete, account_purge
from .actions import library_image_to_photo, library_image_vary
from .collections import (
    collection_create,
    collection_delete,
    collection_items_add,
    collection_items_remove,
    collection_items_reorder,
    collection_publish,
    collection_rename,
    star_set,
)
from .deletion import Deletion, library_items_delete, library_items_restore, library_purge, library_purge_due
from .export import data_export_build, data_export_request, data_exports_expire

__all__ = [
    "Deletion", "account_delete", "account_purge", "library_image_to_photo", "library_image_vary", "collection_create", "collection_delete", "collection_items_add",
    "collection_items_remove", "collection_items_reorder", "collection_publish", "collection_rename", "data_export_build",
    "data_export_request", "data_exports_expire", "library_items_delete", "library_items_restore",
    "library_purge", "library_purge_due", "star_set",
]
