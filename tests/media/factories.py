import factory
from factory.django import DjangoModelFactory

from apps.media import services
from apps.media.models import Kind, Upload
from tests.accounts.factories import UserFactory

from .images import photo_bytes


class UploadFactory(DjangoModelFactory):
    """A photo uploaded through the service: validated, cleaned and stored."""

    class Meta:
        model = Upload

    owner = factory.SubFactory(UserFactory)
    kind = Kind.PHOTO
    width = 320
    height = 240
    fmt = "PNG"
    filename = factory.Sequence(lambda n: f"holiday-{n}.png")

    @classmethod
    def _create(cls, model_class, *args, owner, kind, width, height, fmt, filename, **kwargs):
        content = kwargs.pop("content", None) or photo_bytes(width, height, fmt)
        return services.upload_create(user=owner, content=content, kind=kind, filename=filename, **kwargs)
