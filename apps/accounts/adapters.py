from allauth.account.adapter import DefaultAccountAdapter

from . import services


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            services.user_signup_complete(user=user)
        return user
