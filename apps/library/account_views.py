"""The account's data export and deletion pages (routed from apps/accounts/urls.py)."""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from apps.core.exceptions import ApplicationError

from . import selectors, services


@login_required
@require_http_methods(["GET", "POST"])
def account_export_view(request):
    error = None
    if request.method == "POST":
        try:
            services.data_export_request(user=request.user)
            return redirect("accounts:export")
        except ApplicationError as exc:
            error = exc.message
    export = selectors.data_export_latest(user=request.user)
    return render(request, "library/account_export.html", {"export": export, "error": error},
                  status=409 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request):
    error = None
    if request.method == "POST":
        if request.POST.get("confirm") != "delete":
            error = "Tick the box to confirm that everything will be deleted."
        else:
            try:
                services.account_delete(user=request.user, password=request.POST.get("password", ""))
            except ApplicationError as exc:
                error = exc.message
            else:
                logout(request)
                messages.info(request, "Your account is being deleted: your images, photos and personal data "
                                       "are removed in the next few minutes.")
                return redirect("generations:generate")
    return render(request, "library/account_delete.html", {"error": error}, status=422 if error else 200)
