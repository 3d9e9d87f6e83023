from django import template

register = template.Library()


@register.filter
def quant(values, q):
    """`{{ row.total|quant:"0.95" }}`: a quantile from a {quantile: value} dict."""
    return (values or {}).get(float(q))


@register.filter
def seconds(value):
    """3.2 s, 850 ms, 2.1 min; a dash when unknown."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


@register.filter
def millis(value):
    return "—" if value is None else seconds(value / 1000)


@register.filter
def rate(value):
    return "—" if value is None else f"{value * 100:.0f} %"


@register.filter
def spq(values):
    """P50 / P95 / P99 of a {quantile: seconds} dict, as one short cell."""
    values = values or {}
    return " / ".join(seconds(values.get(q)) for q in (0.5, 0.95, 0.99))


@register.filter
def mspq(values):
    """P50 / P95 / P99 of a {quantile: milliseconds} dict."""
    values = values or {}
    return " / ".join(millis(values.get(q)) for q in (0.5, 0.95, 0.99))


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)
