from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.exceptions import ApplicationError

from . import selectors, services


@login_required
@require_http_methods(["GET", "POST"])
def api_keys_view(request):
    issued, error = None, None
    if request.method == "POST":
        try:
            issued = services.api_key_create(user=request.user, name=request.POST.get("name", ""))
        except ApplicationError as exc:
            error = exc.message
    context = {"api_keys": selectors.api_key_list(user=request.user), "issued": issued, "error": error}
    return render(request, "accounts/api_keys.html", context, status=422 if error else 200)


@login_required
@require_POST
def api_key_revoke_view(request, api_key_id: int):
    services.api_key_revoke(user=request.user, api_key_id=api_key_id)
    return redirect("accounts:api_keys")
