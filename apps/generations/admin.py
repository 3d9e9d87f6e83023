from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from apps.core.audit import staff_action_record
from apps.core.exceptions import ApplicationError

from . import services
from .metrics import PHASES
from .models import Generation, GenerationImage


class GenerationImageInline(admin.TabularInline):
    model = GenerationImage
    extra = 0
    can_delete = False
    fields = ["index", "file", "thumbnail", "width", "height", "size_bytes", "sha256"]
    readonly_fields = fields


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "catalog_model", "status", "progress", "quoted_credits", "overhead_ms", "created_at",
                    "finished_at"]
    list_filter = ["status", "catalog_model", "provider"]
    search_fields = ["id", "owner__email", "prompt", "provider_job_id"]
    list_select_related = ["owner", "catalog_model"]
    date_hierarchy = "created_at"
    inlines = [GenerationImageInline]
    actions = ["cancel_generations"]
    readonly_fields = [
        "id", "owner", "catalog_model", "prompt", "negative_prompt", "params", "seed", "quoted_credits",
        "images_delivered", "charged_credits", "status",
        "progress", "revision", "provider", "route_index", "provider_job_id", "notes", "predict_seconds",
        "error_code", "error_message", "created_at", "deadline_at", "dispatched_at", "started_at", "finishing_at",
        "finished_at", "phase_timings", "timings", "route_attempts", "lost_answers", "double_cost",
        "provider_cost_usd", "outage_waits", "next_attempt_at", "result_read_failures", "cached_from",
    ]
    raw_id_fields = ["owner", "catalog_model", "cached_from"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Nothing here is for staff to edit (routing, leases, provider job ids, timings, money):
        # the page is a view, and the only action is cancel, which goes through the service.
        return False

    @admin.display(description="Possible double cost", boolean=True)
    def double_cost(self, obj):
        return obj.possible_double_cost

    @admin.display(description="Overhead (ms)")
    def overhead_ms(self, obj):
        overhead = (obj.timings or {}).get("overhead")
        return f"{overhead * 1000:.0f}" if isinstance(overhead, int | float) else "—"

    @admin.display(description="Phase timings")
    def phase_timings(self, obj):
        """Each recorded phase: when (ms after submit) and how long since the phase before it."""
        timings = obj.timings or {}
        rows, previous = [], None
        for phase in PHASES:
            at = timings.get(phase)
            if not isinstance(at, int | float):
                continue
            step = "" if previous is None else f"+{(at - previous) * 1000:.1f}"
            rows.append((phase.replace("_", " "), f"{at * 1000:.1f}", step))
            previous = at
        if not rows:
            return "—"
        extra = []
        if obj.predict_seconds is not None:
            extra.append(("provider reported", f"{obj.predict_seconds * 1000:.1f}", ""))
        if isinstance(timings.get("overhead"), int | float):
            extra.append(("overhead (ours)", f"{timings['overhead'] * 1000:.1f}", ""))
        return format_html(
            '<table class="phase-timings"><thead><tr><th>phase</th><th>ms after submit</th><th>ms since previous</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", rows + extra),
        )

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel selected generations (credits are released)")
    def cancel_generations(self, request, queryset):
        canceled = 0
        for generation in queryset.select_related("owner"):
            try:
                services.generation_cancel(user=generation.owner, generation_id=generation.id)
                staff_action_record(actor=request.user, action="generation.cancel", target=generation,
                                    target_label=f"{generation.pk} of {generation.owner.email}",
                                    changes={"status": [generation.status, "canceled"]})
                canceled += 1
            except ApplicationError as exc:
                self.message_user(request, f"{generation.id}: {exc.message}", level=messages.WARNING)
        self.message_user(request, f"Canceled {canceled} generation(s).")
