"""The prompt presets' admin: staff edit what a preset does, and every change is saved as a new
version (services.preset_save); the versions are listed side by side with how each did — uses,
success, review pass rate, and how often people kept or starred the results."""

from django import forms
from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from apps.generations.selectors import preset_version_usage

from . import performance
from .models import PromptPreset
from .services import preset_save


class PromptPresetForm(forms.ModelForm):
    template = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                               help_text="The prompt sent: {prompt} is replaced by the user's words.")
    negative_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                      help_text="Added to the user's, for models that take one.")
    aspect_ratio = forms.CharField(required=False, max_length=10, help_text="Used when the user picks none.")
    model_hints = forms.CharField(required=False, help_text="Model slugs Auto prefers, comma-separated.")

    class Meta:
        model = PromptPreset
        fields = ["slug", "label", "description", "is_active", "sort_order"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and (current := self.instance.current):
            self.initial.update(template=current.template, negative_prompt=current.negative_prompt,
                                aspect_ratio=current.aspect_ratio, model_hints=", ".join(current.model_hints))

    def clean_template(self):
        if "{prompt}" not in self.cleaned_data["template"]:
            raise forms.ValidationError("Put {prompt} where the user's words go.")
        return self.cleaned_data["template"]


def _percent(value) -> str:
    return "—" if value is None else f"{value:.0%}"


@admin.register(PromptPreset)
class PromptPresetAdmin(admin.ModelAdmin):
    form = PromptPresetForm
    list_display = ["label", "slug", "is_active", "current_version", "sort_order"]
    list_editable = ["is_active", "sort_order"]
    readonly_fields = ["versions_compared"]
    fieldsets = [
        (None, {"fields": ["slug", "label", "description", "is_active", "sort_order"]}),
        ("What it does (saving a change makes a new version)",
         {"fields": ["template", "negative_prompt", "aspect_ratio", "model_hints"]}),
        ("Versions compared", {"fields": ["versions_compared"]}),
    ]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        data = form.cleaned_data
        hints = [slug.strip() for slug in (data.get("model_hints") or "").split(",") if slug.strip()]
        preset_save(preset=obj, template=data["template"], negative_prompt=data.get("negative_prompt") or "",
                    aspect_ratio=data.get("aspect_ratio") or "", model_hints=hints, actor=request.user)

    @admin.display(description="Version")
    def current_version(self, obj):
        current = obj.current
        return f"v{current.number}" if current else "—"

    @admin.display(description="Versions")
    def versions_compared(self, obj):
        versions = list(obj.versions.order_by("-number")) if obj.pk else []
        if not versions:
            return "No versions yet."
        usage = preset_version_usage(version_ids=[v.id for v in versions])
        rows = []
        for version in versions:
            used = usage.get(str(version.id), {"uses": 0, "succeeded": 0})
            success = used["succeeded"] / used["uses"] if used["uses"] else None
            rows.append((version.number, version.created_at.strftime("%Y-%m-%d %H:%M"), used["uses"],
                         _percent(success), _percent(performance.preset_version_pass_rate(version.id)),
                         _percent(performance.preset_version_keep_rate(version.id)), version.template))
        header = ("<table><thead><tr><th>Version</th><th>Saved</th><th>Generations</th><th>Succeeded</th>"
                  "<th>Review pass rate</th><th>Kept or starred</th><th>Template</th></tr></thead><tbody>")
        body = format_html_join("", "<tr><td>v{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                "<td>{}</td></tr>", rows)
        return mark_safe(header) + body + mark_safe("</tbody></table>")  # constant markup around escaped rows
