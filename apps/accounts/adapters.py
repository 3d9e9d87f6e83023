from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter, get_adapter
from django.contrib.admin.forms import AdminAuthenticationForm

from . import services

# Set at sign-up, read once by the studio page to show the welcome.
WELCOME_SESSION_KEY = "darkroom_welcome"


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            verifying = app_settings.EMAIL_VERIFICATION != app_settings.EmailVerificationMethod.NONE
            services.user_signup_complete(user=user, email_verified=not verifying)
            request.session[WELCOME_SESSION_KEY] = True
        return user

    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="", message=None):
        # A new account gets the studio's welcome instead of "Successfully signed in as …".
        if message_template == "account/messages/logged_in.txt" and request.session.get(WELCOME_SESSION_KEY):
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message=message)


class RateLimitedAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in, counted against the same failed-login limits as the account login
    (ACCOUNT_RATE_LIMITS["login_failed"]: per IP and per address), so staff passwords can't be
    guessed there without limit."""

    def clean(self):
        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email is not None and password:
            # Raises a form error once the limit is reached; a success gives back its attempt.
            self.user_cache = get_adapter(self.request).authenticate(self.request, email=email, password=password)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
