from django import template

from apps.gallery import links, selectors
from apps.gallery.models import Share, Visibility

register = template.Library()


@register.filter
def share_url(share: Share, variant: str = "thumb") -> str:
    """The stable URL of a shared file: thumb, preview or original."""
    return links.share_file_url(share, variant)


@register.inclusion_tag("gallery/_share_controls.html", takes_context=True)
def share_controls(context, image):
    """The owner's private / unlisted / public switch for one of their images."""
    share = getattr(image, "_share_cache", None) or Share.objects.filter(image=image).first()
    return {"image_id": image.pk, "share": share, "visibilities": Visibility.choices,
            "csrf_token": context.get("csrf_token"), "request": context.get("request")}


@register.inclusion_tag("gallery/_strip.html")
def public_strip(limit: int = 12):
    """The newest public images, for the landing page."""
    return {"shares": selectors.explore_page(limit=limit).items}


@register.inclusion_tag("gallery/_strip.html")
def model_samples(catalog_model, limit: int = 6):
    return {"shares": selectors.model_samples(catalog_model=catalog_model, limit=limit), "compact": True}
