from django.shortcuts import render

from .exceptions import ApplicationError


class ApplicationErrorMiddleware:
    """HTML views: a domain error that escaped the view becomes a readable page at its status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, ApplicationError) and not request.path.startswith("/api/"):
            return render(request, "error.html", {"message": exception.message}, status=exception.http_status)
        return None
