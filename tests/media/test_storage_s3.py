"""Uploads on an S3-compatible store: moto's server mode on loopback, spoken to over real HTTP by
django-storages (boto3), with the settings production would use plus a path-style endpoint.

moto 5 does not enforce a presigned URL's expiry (a 2-second link still answers after 3 s), so
the link's lifetime is checked in its signed query (X-Amz-Date + X-Amz-Expires), and refusal after
expiry is checked on Darkroom's own signed link, which is the only way to get a fresh presigned URL.
"""

import hashlib
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config
from django.core.files.storage import default_storage
from django.test import Client

from apps.core.files import signed_file_url
from apps.media import services

from .images import phone_jpeg

BUCKET = "darkroom-media-test"
PRESIGNED_TTL = 2
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
        **CREDENTIALS,
    )
    client.create_bucket(Bucket=BUCKET)
    yield endpoint, client
    server.stop()


@pytest.fixture
def s3(s3_server, settings):
    endpoint, client = s3_server
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": PRESIGNED_TTL,
                "file_overwrite": True,
                "addressing_style": "path",
                "signature_version": "s3v4",
            },
        },
    }
    settings.FILE_URL_TTL = 60
    assert hasattr(default_storage, "bucket_name")
    yield endpoint, client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def test_an_upload_and_its_derivatives_are_stored_in_the_bucket(s3, user, django_capture_on_commit_callbacks):
    _, client = s3
    with django_capture_on_commit_callbacks(execute=True):
        upload = services.upload_create(user=user, content=phone_jpeg(64, 32))
    upload.refresh_from_db()
    keys = sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    folder = f"uploads/{user.pk}/{upload.pk}"
    assert keys == [f"{folder}/original.jpg", f"{folder}/preview.webp", f"{folder}/thumb.webp"]
    body = client.get_object(Bucket=BUCKET, Key=upload.file)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == upload.sha256
    assert b"PhoneCo" not in body and b"Exif" not in body
    assert upload.blurhash


def test_the_signed_link_redirects_to_a_short_lived_presigned_url(s3, user, monkeypatch):
    endpoint, _ = s3
    upload = services.upload_create(user=user, content=phone_jpeg(64, 32))
    link = signed_file_url(upload.file)

    response = Client().get(link)

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(f"{endpoint}/{BUCKET}/{upload.file}?")
    query = parse_qs(urlsplit(location).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == [str(PRESIGNED_TTL)]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    assert abs(signed_at - time.time()) < 5  # so it expires PRESIGNED_TTL seconds from now
    with httpx.Client(trust_env=False, timeout=5) as http:
        fetched = http.get(location)
    assert fetched.status_code == 200
    assert hashlib.sha256(fetched.content).hexdigest() == upload.sha256

    # Past FILE_URL_TTL Darkroom's link is refused, so no new presigned URL can be had from it.
    later = time.time() + 60 + 61
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    assert Client().get(link).status_code == 404


def test_a_link_to_a_missing_object_is_404(s3):
    assert Client().get(signed_file_url("uploads/nobody/nothing.png")).status_code == 404
