from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.exceptions import ApplicationError
from apps.media.uploads import upload_read

from . import profiles, selectors, services


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


@login_required
@require_http_methods(["GET", "POST"])
def settings_view(request):
    """The account page: profile (handle, avatar, bio, links) and links to everything else."""
    profile = services.profile_ensure(user=request.user)
    error, data = None, None
    if request.method == "POST":
        data = request.POST
        try:
            if request.POST.get("action") == "avatar":
                upload = request.FILES.get("avatar")
                profile = services.profile_avatar_set(user=request.user, content=upload_read(request, upload),
                                                      filename=upload.name if upload else "")
            elif request.POST.get("action") == "avatar_clear":
                profile = services.profile_avatar_clear(user=request.user)
            else:
                links = [request.POST.get(f"link{i}", "") for i in range(profiles.MAX_LINKS)]
                profile = services.profile_update(user=request.user, handle=request.POST.get("handle", ""),
                                                  bio=request.POST.get("bio", ""), links=links)
        except ApplicationError as exc:
            error = exc
        else:
            messages.success(request, "Saved.")
            return redirect("accounts:settings")
    links = list(profile.links) + [""] * (profiles.MAX_LINKS - len(profile.links))
    context = {"profile": profile, "error": error, "data": data, "links": links,
               "has_password": request.user.has_usable_password()}
    return render(request, "accounts/settings.html", context, status=error.http_status if error else 200)
