"""A batch's items from a prompt list, a CSV or a parameter sweep (zip within a group, product across
groups, as InvokeAI's batches do). Each item is a dict of generation parameters."""

import csv
import io
import itertools

from django.conf import settings

from .exceptions import BatchInvalidError

FIELDS = ("prompt", "model", "negative_prompt", "aspect_ratio", "tier", "num_images", "seed")
INTEGER_FIELDS = ("num_images",)


def _limit(items: list[dict]) -> list[dict]:
    if not items:
        raise BatchInvalidError("The batch is empty: give at least one prompt.")
    if len(items) > settings.BATCH_MAX_ITEMS:
        raise BatchInvalidError(f"A batch has at most {settings.BATCH_MAX_ITEMS} generations; this one has {len(items)}.")
    return items


def _typed(field: str, value, where: str):
    if field in INTEGER_FIELDS and value not in (None, ""):
        try:
            if isinstance(value, bool | float):  # int() would take true as 1 and 2.7 as 2
                raise TypeError
            return int(value)
        except (TypeError, ValueError):
            raise BatchInvalidError(f"{where}: {field} must be a whole number, not {value!r}.") from None
    return value


def items_from_prompts(prompts: list[str], base: dict) -> list[dict]:
    return _limit([{**base, "prompt": prompt} for prompt in prompts])


def items_from_csv(text: str, base: dict) -> list[dict]:
    """A header row with a `prompt` column and, optionally, any of the other parameters; an empty
    cell takes the batch's value."""
    if "\x00" in text:  # a binary file, or text no database column can hold
        raise BatchInvalidError("The CSV can't contain NUL characters: is it a text file?")
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        items = _csv_items(reader, base)
    except csv.Error:  # a cell over the csv module's field limit, a NUL, broken quoting
        raise BatchInvalidError(f"Line {reader.line_num + 1} of the CSV can't be read: is a cell far too long "
                                "or a quote left open?") from None
    return _limit(items)


def _csv_items(reader: csv.DictReader, base: dict) -> list[dict]:
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if "prompt" not in columns:
        raise BatchInvalidError("The CSV needs a header row with a `prompt` column.")
    unknown = [c for c in columns if c not in FIELDS]
    if unknown:
        raise BatchInvalidError(
            f"Unknown CSV column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: use {', '.join(FIELDS)}."
        )
    items = []
    for line, row in enumerate(reader, start=2):
        if len(items) > settings.BATCH_MAX_ITEMS:
            break
        cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if not any(cells.values()):
            continue  # a blank line
        item = dict(base)
        for field, value in cells.items():
            if value != "":
                item[field] = _typed(field, value, f"Line {line}")
        if not str(item.get("prompt", "")).strip():
            raise BatchInvalidError(f"Line {line} has no prompt.")
        items.append(item)
    return items


def items_from_sweep(groups: list[list[dict]], base: dict) -> list[dict]:
    """`groups`: [[{"field": "prompt", "values": [...]}, {"field": "seed", "values": [...]}], ...].
    Within a group the lists are zipped (equal lengths); the groups are combined by product."""
    zipped_groups = []
    for number, group in enumerate(groups, start=1):
        lengths = {len(entry["values"]) for entry in group}
        if not group or len(lengths) != 1 or 0 in lengths:
            raise BatchInvalidError(f"Sweep group {number}: its value lists must be non-empty and of equal length.")
        for entry in group:
            if entry["field"] not in FIELDS:
                raise BatchInvalidError(f"Sweep group {number}: unknown field {entry['field']!r}: use {', '.join(FIELDS)}.")
        fields = [entry["field"] for entry in group]
        zipped_groups.append([dict(zip(fields, values)) for values in zip(*(entry["values"] for entry in group))])
    count = 1
    for group in zipped_groups:
        count *= len(group)
    if count > settings.BATCH_MAX_ITEMS:
        raise BatchInvalidError(f"A batch has at most {settings.BATCH_MAX_ITEMS} generations; this sweep makes {count}.")
    items = []
    for combination in itertools.product(*zipped_groups):
        item = dict(base)
        for part in combination:
            item.update({k: _typed(k, v, "Sweep") for k, v in part.items()})
        items.append(item)
    return _limit(items)
