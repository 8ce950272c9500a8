from django.urls import path

from streaming.web import api as views

app_name = "streaming"
urlpatterns = [
    path("sessions", views.sessions, name="sessions"),
    path("sessions/<uuid:session_id>", views.session_detail, name="session-detail"),
    path("sessions/<uuid:session_id>/stats", views.session_stats, name="session-stats"),
    path("sessions/<uuid:session_id>/entries", views.session_entries, name="session-entries"),
]
