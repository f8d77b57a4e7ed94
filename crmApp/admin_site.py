"""The Django admin site: its login page under the failed-login limits.

The limits themselves live in the authentication backend (crmApp.authentication), which the
admin's login form calls like the API does; this site only answers a refused attempt as the
API does, 429 with `Retry-After`, and says why on the page. `crmAdmin.apps.CrmAdminConfig`
installs the admin with this as its default site, so every `admin.site` is this site. Where
the admin is served, if at all, is `ADMIN_ENABLED` / `ADMIN_URL` (crmAdmin/urls.py).
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from crmApp.authentication import login_retry_after

TOO_MANY_ATTEMPTS = "Too many failed login attempts. Try again in %(seconds)s seconds."


class LimitedAdminAuthenticationForm(AdminAuthenticationForm):
    def get_invalid_login_error(self):
        seconds = login_retry_after(self.request)
        if seconds is not None:
            return ValidationError(TOO_MANY_ATTEMPTS, code="throttled", params={"seconds": seconds})
        return super().get_invalid_login_error()


class CrmAdminSite(admin.AdminSite):
    login_form = LimitedAdminAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        seconds = login_retry_after(request)
        if seconds is not None:
            response.status_code = 429
            response["Retry-After"] = str(seconds)
        return response
