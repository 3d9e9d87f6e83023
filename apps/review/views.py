from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.accounts.models import User
from apps.core.exceptions import ApplicationError

from . import services


@login_required
@require_http_methods(["GET", "POST"])
def safety_settings_view(request):
    error = None
    if request.method == "POST":
        try:
            services.safety_preference_set(user=request.user, flagged_images=request.POST.get("flagged_images", ""))
        except ApplicationError as exc:
            error = exc.message
        else:
            messages.success(request, "Saved.")
            return redirect("review:safety")
    context = {"choices": User.FlaggedImages.choices, "current": request.user.flagged_images,
               "error": error}
    return render(request, "review/safety.html", context, status=422 if error else 200)
