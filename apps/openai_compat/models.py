from django.db import models


class ImageStream(models.Model):
    """A `stream: true` request waiting on its generation. The partial images it asked for are kept
    here, taken from the generation's live previews as its progress crosses even steps (a third and
    two thirds for two partials), until the stream has sent them; the row goes when the stream ends."""

    generation = models.OneToOneField(
        "generations.Generation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    partial_images = models.PositiveSmallIntegerField()
    # Base64 of each partial image (JPEG), in order.
    partials = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"stream of {self.generation_id} ({len(self.partials)}/{self.partial_images} partials)"
