from django.contrib import admin, messages

from apps.core.exceptions import ApplicationError

from . import services
from .models import NodeRun, StarterWorkflow, Workflow, WorkflowRun, WorkflowVersion


class VersionInline(admin.TabularInline):
    model = WorkflowVersion
    extra = 0
    can_delete = False
    fields = ["number", "created_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "latest_version_number", "starter_key", "created_at"]
    search_fields = ["id", "name", "owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "owner", "starter_key", "latest_version_number", "created_at", "updated_at"]
    inlines = [VersionInline]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    list_display = ["workflow", "number", "created_at"]
    readonly_fields = ["workflow", "number", "graph", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class NodeRunInline(admin.TabularInline):
    model = NodeRun
    extra = 0
    can_delete = False
    fields = ["node_id", "type_key", "status", "attempt", "model", "cached", "price", "charged_credits",
              "generation", "error_code", "started_at", "finished_at"]
    readonly_fields = fields


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):
    list_display = ["id", "workflow", "owner", "status", "quoted_credits", "charged_credits", "created_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["id", "owner__email", "workflow__name"]
    list_select_related = ["workflow", "owner"]
    date_hierarchy = "created_at"
    inlines = [NodeRunInline]
    actions = ["cancel_runs"]
    readonly_fields = [
        "id", "owner", "workflow", "version", "status", "inputs", "force_rerun", "quoted_credits", "held_credits",
        "charged_credits", "hold_seq", "revision", "error_message", "created_at", "finished_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel selected runs (unused credits are returned)")
    def cancel_runs(self, request, queryset):
        canceled = 0
        for run in queryset.select_related("owner"):
            try:
                services.run_cancel(user=run.owner, run_id=run.pk)
                canceled += 1
            except ApplicationError as exc:
                self.message_user(request, f"{run.pk}: {exc.message}", level=messages.WARNING)
        self.message_user(request, f"Canceled {canceled} run(s).")


@admin.register(StarterWorkflow)
class StarterWorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "sort_order"]
    readonly_fields = ["key", "name", "description", "graph", "sort_order", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False
