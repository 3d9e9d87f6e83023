from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    verbose_name = "Accounts"

    def ready(self):
        from allauth.account.signals import email_confirmed
        from django.contrib import admin

        from apps.core.body_limit import file_routes_add

        from . import services
        from .adapters import RateLimitedAdminAuthenticationForm

        file_routes_add("accounts:settings")  # the avatar

        admin.site.login_form = RateLimitedAdminAuthenticationForm
        email_confirmed.connect(
            lambda sender, request, email_address, **kwargs: services.user_email_verified(user=email_address.user),
            dispatch_uid="accounts.signup_grant_on_verified_email", weak=False,
        )
