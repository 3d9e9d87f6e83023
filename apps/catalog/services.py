import tomllib
from pathlib import Path

from django.conf import settings
from django.db import transaction

from apps.core.audit import field_changes, staff_action_record
from apps.core.exceptions import ApplicationError

from .models import CatalogModel, PromptPreset, PromptPresetVersion
from .pricing import tiers_priced
from .selectors import catalog_model_names_clear
from .validation import CatalogInvalidError, routes_clean, tiers_clean

# Fields the catalogue file owns (unless staff changed them: `staff_overrides`); staff's is_enabled,
# disabled_reason and coming_soon are never touched.
FILE_FIELDS = (
    "label", "description", "kind", "routes", "aspect_ratios", "max_images",
    "supports_negative_prompt", "supports_seed", "tiers", "sort_order", "typical_seconds", "deadline_seconds",
    "capabilities", "deterministic",
)


def _row(entry: dict) -> dict:
    return {
        "label": entry["label"],
        "description": entry.get("description", ""),
        "kind": entry.get("kind", CatalogModel.Kind.IMAGE),
        "routes": entry["routes"],
        "aspect_ratios": entry.get("aspect_ratios", ["1:1"]),
        "max_images": entry.get("max_images", 1),
        "supports_negative_prompt": entry.get("negative_prompt", False),
        "supports_seed": entry.get("seed", True),
        "tiers": tiers_priced(entry["routes"], entry["tiers"]),
        "sort_order": entry.get("sort_order", 100),
        "typical_seconds": entry.get("typical_seconds", 10),
        "deadline_seconds": entry.get("deadline_seconds", 300),
        "capabilities": entry.get("capabilities", ["text-to-image"]),
        "deterministic": entry.get("deterministic", False),
    }


@transaction.atomic
def catalog_load(*, path: Path | None = None) -> tuple[int, int]:
    """Upsert the catalogue file. Returns (created, updated)."""
    data = tomllib.loads((path or settings.CATALOG_FILE).read_text())
    created = updated = 0
    for entry in data["models"]:
        row = _row(entry)
        model = CatalogModel.objects.filter(slug=entry["slug"]).first()
        if model is None:
            CatalogModel.objects.create(slug=entry["slug"], **row)
            created += 1
        else:
            # Fields staff changed in the admin stay as staff set them.
            fields = [field for field in FILE_FIELDS if field not in model.staff_overrides]
            if any(getattr(model, field) != row[field] for field in fields):
                for field in fields:
                    setattr(model, field, row[field])
                model.save(update_fields=[*fields, "updated_at"])
                updated += 1
    catalog_model_names_clear()
    presets_ship()
    return created, updated


# Fields staff may change in the admin. Those from the file are then kept by `catalog_load`.
STAFF_FIELDS = (
    "label", "description", "routes", "tiers", "sort_order", "max_images", "typical_seconds",
    "deadline_seconds", "is_enabled", "disabled_reason", "coming_soon", "coming_soon_note",
)


@transaction.atomic
def catalog_model_update(*, model_id, changes: dict, actor) -> CatalogModel:
    """Apply staff's changes to a catalogue model (validated), remember which file fields they
    override, and audit them. Every page reads the model from the database: the change shows at once."""
    unknown = set(changes) - set(STAFF_FIELDS)
    if unknown:
        raise CatalogInvalidError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    if "routes" in changes:
        changes["routes"] = routes_clean(changes["routes"])
    if "tiers" in changes:
        changes["tiers"] = tiers_clean(changes["tiers"])
    model = CatalogModel.objects.select_for_update().get(pk=model_id)
    changed = {field: value for field, value in changes.items() if getattr(model, field) != value}
    if not changed:
        return model
    before = {field: getattr(model, field) for field in changed}
    for field, value in changed.items():
        setattr(model, field, value)
    model.staff_overrides = sorted(set(model.staff_overrides) | (set(changed) & set(FILE_FIELDS)))
    model.save(update_fields=[*changed, "staff_overrides", "updated_at"])
    staff_action_record(actor=actor, action="catalogue.update", target=model,
                        changes=field_changes(before, changed))
    return model


@transaction.atomic
def catalog_model_overrides_clear(*, model_id, actor) -> CatalogModel:
    """Forget which fields staff changed: the next `catalog_load` sets them from the file again."""
    model = CatalogModel.objects.select_for_update().get(pk=model_id)
    if model.staff_overrides:
        staff_action_record(actor=actor, action="catalogue.overrides_cleared", target=model,
                            changes={"staff_overrides": [model.staff_overrides, []]})
        model.staff_overrides = []
        model.save(update_fields=["staff_overrides", "updated_at"])
    return model


PRESETS_FILE = Path(__file__).with_name("presets.toml")


@transaction.atomic
def presets_ship(*, path: Path | None = None) -> int:
    """Add the shipped presets that are missing, at version 1; staff's own are never touched."""
    added = 0
    for entry in tomllib.loads((path or PRESETS_FILE).read_text())["presets"]:
        preset, created = PromptPreset.objects.get_or_create(slug=entry["slug"], defaults={
            "label": entry["label"], "description": entry.get("description", ""),
            "sort_order": entry.get("sort_order", 100),
        })
        if created:
            preset_save(preset=preset, template=entry["template"], negative_prompt=entry.get("negative_prompt", ""),
                        aspect_ratio=entry.get("aspect_ratio", ""), model_hints=entry.get("model_hints", []))
            added += 1
    return added


PRESET_FIELDS = ("template", "negative_prompt", "aspect_ratio", "model_hints")


@transaction.atomic
def preset_save(*, preset, template: str, negative_prompt: str = "", aspect_ratio: str = "",
                model_hints: list | None = None, actor=None):
    """Save a preset's behaviour: a new version when it differs from the current one (versions are
    never edited, so what each generation used stays known). Returns the current version."""
    if "{prompt}" not in template:
        raise PresetInvalidError(extra={"field": "template"})
    values = {"template": template.strip(), "negative_prompt": negative_prompt.strip(),
              "aspect_ratio": aspect_ratio.strip(), "model_hints": list(model_hints or [])}
    current = preset.current
    if current is not None and all(getattr(current, name) == values[name] for name in PRESET_FIELDS):
        return current
    return PromptPresetVersion.objects.create(
        preset=preset, number=(current.number + 1) if current else 1, created_by=actor, **values,
    )


class PresetInvalidError(ApplicationError):
    code = "invalid_request"
    http_status = 422
    default_message = "A preset's template must contain {prompt}, where the user's words go."
