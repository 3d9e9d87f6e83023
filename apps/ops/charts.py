"""Small charts drawn on the server as inline SVG: no chart library, nothing loaded from elsewhere."""

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe


def sparkline(values, *, width: int = 160, height: int = 28, label: str = "", danger=None) -> SafeString:
    """Bars, one per value, scaled to the largest; `danger` (same length) is drawn over them in red."""
    values = [max(0, v or 0) for v in values]
    if not values:
        return mark_safe("")
    top = max(values) or 1
    step = width / len(values)
    gap = 1 if step > 3 else 0

    def bars(series, css):
        # Only numbers and a fixed class name go into the markup.
        return mark_safe("".join(
            f'<rect class="{css}" x="{i * step:.1f}" y="{height - height * v / top:.1f}" '
            f'width="{max(step - gap, 0.5):.1f}" height="{height * v / top:.1f}"></rect>'
            for i, v in enumerate(series) if v
        ))

    return format_html(
        '<svg class="ops-spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{label}">'
        '<title>{label}</title><rect class="base" x="0" y="{base}" width="{w}" height="1"></rect>{ok}{bad}</svg>',
        w=width, h=height, base=height - 1, label=label, ok=bars(values, "bar"),
        bad=bars([max(0, d or 0) for d in danger], "bad") if danger else "",
    )


def meter(fraction, *, width: int = 80, height: int = 10) -> SafeString:
    """A horizontal bar filled to `fraction` (0–1); empty when unknown."""
    if fraction is None:
        return mark_safe("")
    fraction = min(max(fraction, 0.0), 1.0)
    css = "ok" if fraction >= 0.95 else "warn" if fraction >= 0.8 else "bad"
    return format_html(
        '<svg class="ops-meter" viewBox="0 0 {w} {h}" width="{w}" height="{h}" aria-hidden="true">'
        '<rect class="track" width="{w}" height="{h}" rx="2"></rect>'
        '<rect class="{css}" width="{fill}" height="{h}" rx="2"></rect></svg>',
        w=width, h=height, css=css, fill=f"{width * fraction:.1f}",
    )
