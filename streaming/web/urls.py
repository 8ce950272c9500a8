from django.urls import path

from streaming.web import api as views

app_name = "streaming"
urlpatterns = [
    path("sessions", views.sessions, name="sessions"),
    path("sessions/<uuid:session_id>", views.session_detail, name="session-detail"),
    path("sessions/<uuid:session_id>/stats", views.session_stats, name="session-stats"),
    path("sessions/<uuid:session_id>/entries", views.session_entries, name="session-entries"),
    path("practice-texts", views.practice_texts, name="practice-texts"),
    path("practice-texts/<int:text_id>", views.practice_text, name="practice-text"),
    path("reading-attempts", views.reading_attempts, name="reading-attempts"),
    path("reading-attempts/<int:attempt_id>", views.reading_attempt, name="reading-attempt"),
]
