from apps.gallery import services as gallery_services
from apps.generations import services
from apps.generations.models import Generation
from tests.generations.factories import GenerationFactory


def finished_generation(owner, **fields) -> Generation:
    """A generation run to the end by the offline engine: its image and derivatives stored."""
    generation = GenerationFactory(owner=owner, **fields)
    services.generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == "succeeded"
    return generation


def shared(owner, visibility: str = "public", *, show_prompt: bool = True, allow_original: bool = False, **fields):
    generation = finished_generation(owner, **fields)
    return gallery_services.share_set(user=owner, image_id=generation.images.get().pk, visibility=visibility,
                                      show_prompt=show_prompt, allow_original=allow_original)
