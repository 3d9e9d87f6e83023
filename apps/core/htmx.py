def is_htmx(request) -> bool:
    """True for requests htmx made (it sends HX-Request), which want a fragment back."""
    return request.headers.get("HX-Request") == "true"
