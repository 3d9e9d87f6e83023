"""The API's generation objects, shared by the endpoints, batches and outgoing webhooks."""

from datetime import datetime
from uuid import UUID

from ninja import Field, Schema

from apps.core.files import signed_file_url
from apps.review.schemas import ReviewOut
from apps.review.selectors import image_shown_as, review_payload, reviews_for_images


class ImageOut(Schema):
    url: str | None = Field(description="The original: an image, or the clip itself for video models. "
                                        "None while the image is withheld (see `review.withheld`).")
    preview_url: str | None = Field(description="A WebP preview (a video's first frame, its poster).")
    thumbnail_url: str | None
    blurhash: str
    width: int
    height: int
    sha256: str
    content_type: str = Field(description="Media type of the original, e.g. image/png or video/mp4.")
    duration_seconds: float | None = Field(description="Length of a video output; null for images.")
    review: ReviewOut = Field(description="The judges' verdict on this output, with each judge's reason.")


class ErrorInfo(Schema):
    code: str
    message: str


class GenerationOut(Schema):
    id: UUID
    status: str
    model: str
    prompt: str
    negative_prompt: str
    aspect_ratio: str
    tier: str
    width: int = Field(description="The width asked for; each image's own width is the delivered file's.")
    height: int = Field(description="The height asked for; each image's own height is the delivered file's.")
    num_images: int
    duration_seconds: int | None = Field(description="Video models: the clip length asked for.")
    seed: str
    progress: float
    quoted_credits: int = Field(description="What was held at submit.")
    images_delivered: int = Field(description="Images (or clips) delivered; set when it succeeded.")
    charged_credits: int = Field(
        description="What was charged: the quote for the images delivered (the rest of the hold is returned); 0 unless it succeeded."
    )
    error: ErrorInfo | None
    notes: list[str]
    cached: bool = Field(description="True when an identical earlier request's result was reused.")
    images: list[ImageOut]
    created_at: datetime
    finished_at: datetime | None


def generation_out(generation, images=None) -> dict:
    """`images`: the generation's images when the caller has them (else they are read)."""
    images = list(generation.images.all() if images is None else images)
    reviews = reviews_for_images([image.pk for image in images])
    return {
        "id": generation.id, "status": generation.status, "model": generation.catalog_model.slug,
        "prompt": generation.prompt, "negative_prompt": generation.negative_prompt,
        "aspect_ratio": generation.params.get("aspect_ratio", ""), "tier": generation.params.get("tier", ""),
        "width": generation.width, "height": generation.height, "num_images": generation.num_images,
        "duration_seconds": generation.params.get("duration_seconds"),
        "seed": generation.seed, "progress": round(generation.progress, 4), "quoted_credits": generation.quoted_credits,
        "images_delivered": generation.images_delivered, "charged_credits": generation.charged_credits,
        "error": {"code": generation.error_code, "message": generation.error_message} if generation.error_code else None,
        "notes": generation.notes, "cached": generation.cached_from_id is not None,
        "images": [
            {
                # Withheld by the owner's safety setting or by staff: no link to its pixels at all.
                **({"url": None, "preview_url": None, "thumbnail_url": None}
                   if image_shown_as(reviews.get(image.pk), generation.owner) == "withheld" else {
                    "url": signed_file_url(image.file, absolute=True),
                    "preview_url": signed_file_url(image.preview or image.thumbnail, absolute=True),
                    "thumbnail_url": signed_file_url(image.thumbnail, absolute=True)}),
                "blurhash": image.blurhash,
                "width": image.width, "height": image.height, "sha256": image.sha256,
                "content_type": image.content_type, "duration_seconds": image.duration_seconds,
                "review": review_payload(reviews.get(image.pk)),
            }
            for image in images
        ],
        "created_at": generation.created_at, "finished_at": generation.finished_at,
    }
