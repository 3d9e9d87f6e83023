import factory
from factory.django import DjangoModelFactory

from apps.accounts import services
from apps.accounts.models import User

PASSWORD = "a-Strong-pass-123"


class UserFactory(DjangoModelFactory):
    """A signed-up user: account created through the service, so it holds the sign-up grant."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.com")

    @classmethod
    def _create(cls, model_class, *args, email, **kwargs):
        return services.user_create(email=email, password=PASSWORD)
