"""The admin site is the ops console: its first page is the operations dashboard."""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.urls import path


class OpsAdminSite(AdminSite):
    site_header = "Darkroom operations"
    site_title = "Darkroom admin"
    index_title = "Operations"
    index_template = "admin/ops/index.html"

    def get_urls(self):
        from . import admin_views

        return [
            path("ops/dashboard/", self.admin_view(admin_views.dashboard_fragment_view), name="ops_dashboard"),
            path("ops/reliability/", self.admin_view(admin_views.reliability_view), name="ops_reliability"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        from . import admin_views

        return super().index(request, {**admin_views.dashboard_context(request), **(extra_context or {})})


class OpsAdminConfig(AdminConfig):
    """django.contrib.admin with the ops console as its default site."""

    default_site = "apps.ops.admin_site.OpsAdminSite"
