"""Test images made on the spot: photos, phone JPEGs with EXIF and GPS, bombs, broken files."""

import functools
import io
import struct
import zlib

import numpy as np
from PIL import ExifTags, Image, ImageDraw

RED, BLUE = (220, 30, 30), (30, 60, 220)


def photo(width: int = 320, height: int = 240, *, mode: str = "RGB") -> Image.Image:
    """A smooth gradient with a few shapes: compresses like a photo, not like noise."""
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    pixels = np.stack([40 + 150 * x + 0 * y, 60 + 120 * y + 0 * x, 160 - 80 * x * y], axis=-1)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.3, height * 0.25, width * 0.7, height * 0.75), fill=(230, 200, 60))
    draw.rectangle((width * 0.05, height * 0.05, width * 0.2, height * 0.2), fill=(20, 20, 30))
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def photo_bytes(width: int = 320, height: int = 240, fmt: str = "PNG", **options) -> bytes:
    return encode(photo(width, height, mode="RGBA" if options.pop("alpha", False) else "RGB"), fmt, **options)


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Ada Secret</dc:creator>'
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
)


def phone_jpeg(width: int = 64, height: int = 32) -> bytes:
    """As a phone stores a portrait shot: pixels landscape, EXIF says "rotate 90° clockwise"
    (orientation 6), with the camera's make and a GPS position, plus XMP naming the author.
    The left half is red and the right half blue, so once upright red is on top."""
    image = Image.new("RGB", (width, height), BLUE)
    image.paste(RED, (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif[ExifTags.Base.Model] = "Pocket 12"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 22.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (4.0, 53.0, 36.0)
    return encode(image, "JPEG", quality=95, exif=exif, xmp=XMP)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


@functools.cache
def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A complete, valid 1-bit PNG of width×height black pixels: a few hundred KB on disk,
    width×height bytes once Pillow decodes it (400 MB at 20000²)."""
    row = b"\x00" + bytes((width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    chunks, block = [], row * 500
    for _ in range(height // 500):
        chunks.append(compressor.compress(block))
    chunks.append(compressor.compress(row * (height % 500)))
    chunks.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", b"".join(chunks))
        + _chunk(b"IEND", b"")
    )


PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >>"
    b" endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


def truncated_jpeg() -> bytes:
    data = photo_bytes(320, 240, "JPEG", quality=90)
    return data[: len(data) // 2]


def mask_image(width: int, height: int, *, box=None, mode: str = "L") -> Image.Image:
    """Black with a white box (the area to change); no box means empty."""
    image = Image.new("L", (width, height), 0)
    if box:
        ImageDraw.Draw(image).rectangle(box, fill=255)
    return image.convert(mode) if mode != "L" else image
