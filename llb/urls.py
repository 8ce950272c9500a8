from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from streaming.web import api as api_views
from streaming.web import health as ops
from streaming.web import pages
from streaming.web.http_api import api_not_found

urlpatterns = [
    path("", pages.home, name="home"),
    path("chat/", pages.chat, name="chat"),
    path("practice/", pages.practice, name="practice"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/audio-streaming/", include("streaming.web.urls")),
    path("api/v1/openapi.json", api_views.openapi, name="openapi"),
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", ops.metrics, name="metrics"),
    re_path(r"^api/", api_not_found),  # last: whatever else is under /api/ gets a JSON 404
]
