"""A file link with `?download=<name>` saves the file under that name (safely cleaned)."""

import pytest
from django.test import Client

from apps.core.files import signed_file_url
from tests.media.factories import UploadFactory

pytestmark = pytest.mark.django_db


def test_a_download_name_is_sent_as_an_attachment_with_the_files_extension():
    upload = UploadFactory(filename="bottle.png")
    url = signed_file_url(upload.file)
    assert "attachment" not in Client().get(url).get("Content-Disposition", "")  # a plain link opens it
    response = Client().get(url, {"download": "bottle – background removed"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''bottle%20%E2%80%93%20background%20removed.png"
    )
    sneaky = Client().get(url, {"download": "../../etc/passwd\r\nX: y"})
    assert sneaky["Content-Disposition"] == 'attachment; filename="etc passwd X: y.png"'
