from django.contrib import admin

from .models import Follow, Like, Report, Share


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """The moderation queue: reports of shared images, newest first."""

    list_display = ["created_at", "reason", "status", "image", "reporter"]
    list_filter = ["status", "reason"]
    raw_id_fields = ["image", "reporter"]
    actions = ["mark_resolved", "take_down"]

    @admin.action(description="Mark resolved")
    def mark_resolved(self, request, queryset):
        queryset.update(status=Report.Status.RESOLVED)

    @admin.action(description="Take the image down (make it private) and resolve")
    def take_down(self, request, queryset):
        Share.objects.filter(image_id__in=queryset.values("image_id")).delete()
        queryset.update(status=Report.Status.RESOLVED)


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    list_display = ["created_at", "visibility", "owner", "catalog_model", "like_count"]
    list_filter = ["visibility"]
    raw_id_fields = ["image", "owner"]
    show_full_result_count = False


admin.site.register(Like, raw_id_fields=["user", "share"], show_full_result_count=False)
admin.site.register(Follow, raw_id_fields=["follower", "followee"])
