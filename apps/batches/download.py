"""A batch's images as one zip, streamed: each image is read from storage and written out in turn,
so memory holds one image at a time whatever the batch's size. PNGs are stored, not recompressed."""

import csv
import io
import re
import zipfile

from asgiref.sync import sync_to_async

from apps.media.storage import file_read

from . import selectors
from .models import Batch


class _Sink(io.RawIOBase):
    """A write-only stream the zip writes into; what it gathers is handed out in chunks."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self):
        return True

    def write(self, data):
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self):
        return self.position

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "image"


# A spreadsheet opening the manifest runs a cell starting with one of these as a formula
# (=HYPERLINK(…), +cmd|…): such text cells get a leading apostrophe, which shows them as text (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _entries(batch: Batch) -> tuple[list[tuple[str, str]], bytes]:
    """(zip name, storage path) of every image, and the manifest CSV."""
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["index", "status", "model", "prompt", "aspect_ratio", "tier", "seed", "files"])
    entries = []
    for item in selectors.batch_items_all(batch):
        generation = item.generation
        names = []
        for image in generation.images.all():
            extension = image.file.rsplit(".", 1)[-1].lower() if "." in image.file else "png"
            name = f"{item.index + 1:04d}-{_slug(generation.prompt)}-{image.index + 1}.{extension}"
            entries.append((name, image.file))
            names.append(name)
        writer.writerow([_cell(value) for value in (
            item.index + 1, generation.status, generation.catalog_model.slug, generation.prompt,
            generation.params.get("aspect_ratio", ""), generation.params.get("tier", ""), generation.seed,
            " ".join(names),
        )])
    return entries, manifest.getvalue().encode()


async def batch_zip_stream(batch: Batch):
    entries, manifest = await sync_to_async(_entries)(batch)
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.csv", manifest, compress_type=zipfile.ZIP_DEFLATED)
        yield sink.take()
        for name, path in entries:
            content = await sync_to_async(file_read)(path)
            archive.writestr(name, content)
            yield sink.take()
    yield sink.take()


def batch_zip_name(batch: Batch) -> str:
    return f"darkroom-batch-{_slug(batch.name) if batch.name else str(batch.pk)[:8]}.zip"
