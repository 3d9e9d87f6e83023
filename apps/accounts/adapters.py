from allauth.account.adapter import DefaultAccountAdapter

from . import services

# Set at sign-up, read once by the studio page to show the welcome.
WELCOME_SESSION_KEY = "darkroom_welcome"


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_signup_complete(user=user)
            request.session[WELCOME_SESSION_KEY] = True
        return user

    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="", message=None):
        # A new account gets the studio's welcome instead of "Successfully signed in as …".
        if message_template == "account/messages/logged_in.txt" and request.session.get(WELCOME_SESSION_KEY):
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message=message)
