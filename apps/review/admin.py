"""The trust layer in the admin: the moderation queue (flagged prompts and images, thumbnails blurred
until clicked, approve / hide / delete, strikes per user, every decision audited), the review
policy, blocked terms, and the reviews themselves."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError
from apps.core.files import signed_file_url

from . import selectors, services
from .models import BlockedTerm, ImageReview, ModerationAction, ModerationItem, ReviewPolicy


class ModerationActionInline(admin.TabularInline):
    model = ModerationAction
    extra = 0
    can_delete = False
    fields = ["created_at", "actor", "action", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


def _blurred_thumbnail(image) -> str:
    if image is None or not image.thumbnail:
        return "—"
    return format_html(
        '<label class="mod-thumb" title="Click to show"><input type="checkbox"><img src="{}" alt="" width="96"></label>',
        signed_file_url(image.thumbnail),
    )


@admin.register(ModerationItem)
class ModerationItemAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "state", "thumbnail", "prompt_excerpt", "reason", "user", "strikes",
                    "reporter"]
    list_filter = ["state", "kind", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user__email", "prompt", "matched", "reason"]
    list_select_related = ["user", "image", "reporter"]
    actions = ["approve", "hide", "delete_image"]
    inlines = [ModerationActionInline]
    readonly_fields = ["kind", "state", "user", "thumbnail", "prompt", "reason", "matched", "reporter",
                       "decided_by", "decided_at", "created_at", "strikes"]
    fields = readonly_fields

    class Media:
        css = {"all": ["css/review-admin.css"]}

    def get_queryset(self, request):
        return selectors.moderation_items_with_strikes(super().get_queryset(request))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # decisions are kept: "delete" removes the image's files, not the record

    @admin.display(description="Image")
    def thumbnail(self, obj):
        return _blurred_thumbnail(obj.image)

    @admin.display(description="Prompt")
    def prompt_excerpt(self, obj):
        return obj.prompt[:80] + ("…" if len(obj.prompt) > 80 else "")

    @admin.display(description="Strikes", ordering="strike_count")
    def strikes(self, obj):
        return obj.strike_count

    def _decide(self, request, queryset, action: str, done: str):
        count = 0
        for item_id in queryset.values_list("pk", flat=True):
            try:
                services.moderation_decide(item_id=item_id, actor=request.user, action=action)
                count += 1
            except ApplicationError as error:
                self.message_user(request, error.message, messages.ERROR)
        self.message_user(request, f"{count} item{'s' if count != 1 else ''} {done}.", messages.SUCCESS)

    @admin.action(description="Approve: show the image (or clear the prompt)")
    def approve(self, request, queryset):
        self._decide(request, queryset, "approve", "approved")

    @admin.action(description="Hide the image from everyone but staff")
    def hide(self, request, queryset):
        self._decide(request, queryset, "hide", "hidden")

    @admin.action(description="Delete the image's files")
    def delete_image(self, request, queryset):
        self._decide(request, queryset, "delete", "deleted")


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "action", "item", "note"]
    list_filter = ["action"]
    search_fields = ["actor__email", "item__user__email"]
    list_select_related = ["actor", "item__user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewPolicy)
class ReviewPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "regenerate_on_red", "use_word_list", "updated_at"]
    fields = ["thresholds", "judges_by_task", "regenerate_on_red", "use_word_list", "allowed_words"]

    def has_add_permission(self, request):
        return not ReviewPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        services.policy_get()  # the one row exists with its defaults before staff look
        return super().changelist_view(request, extra_context)


@admin.register(BlockedTerm)
class BlockedTermAdmin(admin.ModelAdmin):
    list_display = ["text", "is_pattern", "active", "note", "updated_at"]
    list_filter = ["active", "is_pattern"]
    search_fields = ["text", "note"]


@admin.register(ImageReview)
class ImageReviewAdmin(admin.ModelAdmin):
    list_display = ["created_at", "thumbnail", "verdict", "task", "nsfw_score", "quality_score", "safety_passed",
                    "staff_approved", "staff_hidden", "model"]
    list_filter = ["verdict", "task", "safety_passed", "staff_hidden", "generation__catalog_model"]
    list_select_related = ["image", "generation__catalog_model"]
    change_list_template = "admin/review/imagereview_change_list.html"
    readonly_fields = ["image", "generation", "task", "verdict", "judges", "nsfw_score", "quality_score",
                       "safety_passed", "staff_approved", "staff_hidden", "reviewed_at"]

    class Media:
        css = {"all": ["css/review-admin.css"]}

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        stats = path("pass-rates/", self.admin_site.admin_view(self.pass_rates_view), name="review_pass_rates")
        return [stats, *super().get_urls()]

    def pass_rates_view(self, request):
        try:
            days = max(1, min(365, int(request.GET.get("days", 30))))
        except ValueError:
            days = 30
        context = {**self.admin_site.each_context(request), "title": "Review pass rates by model",
                   "stats": selectors.review_stats(days=days), "opts": self.model._meta}
        return TemplateResponse(request, "admin/review/pass_rates.html", context)

    def changelist_view(self, request, extra_context=None):
        extra = {**(extra_context or {}), "pass_rates_url": reverse("admin:review_pass_rates")}
        return super().changelist_view(request, extra)

    @admin.display(description="Image")
    def thumbnail(self, obj):
        return _blurred_thumbnail(obj.image)

    @admin.display(description="Model")
    def model(self, obj):
        return obj.generation.catalog_model.label
