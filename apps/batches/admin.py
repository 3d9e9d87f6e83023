from django.contrib import admin

from .models import Batch


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "source", "status", "total", "quoted_credits", "created_at", "finished_at"]
    list_filter = ["status", "source"]
    search_fields = ["name", "owner__email"]
    readonly_fields = ["owner", "source", "status", "total", "quoted_credits", "finished_at"]  # the services move status
