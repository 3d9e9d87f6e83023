from django.contrib import admin

from .models import Upload


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "owner",
        "kind",
        "width",
        "height",
        "format",
        "size_bytes",
        "operation",
        "created_at",
    ]
    list_filter = ["kind", "format", "operation"]
    search_fields = ["id", "owner__email", "sha256", "original_name"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Upload._meta.fields]

    def has_add_permission(self, request):
        return False
