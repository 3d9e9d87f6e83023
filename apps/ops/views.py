from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from . import health


@never_cache
def healthz_view(request):
    """The process is up and serving: nothing else is checked (that is /readyz)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz_view(request):
    ready, detail = health.readiness()
    if request.method == "HEAD":
        return HttpResponse(status=200 if ready else 503)
    return JsonResponse(detail, status=200 if ready else 503)
