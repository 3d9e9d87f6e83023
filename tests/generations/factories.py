import factory
from factory.django import DjangoModelFactory

from apps.catalog.models import CatalogModel
from apps.generations import services
from apps.generations.models import Generation
from tests.accounts.factories import UserFactory


class GenerationFactory(DjangoModelFactory):
    """A generation submitted through the service: validated, quoted and reserved."""

    class Meta:
        model = Generation

    owner = factory.SubFactory(UserFactory)
    prompt = factory.Sequence(lambda n: f"a lighthouse at dusk, study {n}")
    model_slug = "offline-sketch"
    tier = "draft"
    num_images = 1
    seed = "42"

    @classmethod
    def _create(cls, model_class, *args, owner, model_slug, **kwargs):
        assert CatalogModel.objects.filter(slug=model_slug).exists(), "use the `catalog` fixture"
        return services.generation_create(user=owner, model_slug=model_slug, **kwargs)
