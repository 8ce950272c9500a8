from django.core.management.base import BaseCommand

from streaming.services import expire_inactive_sessions


class Command(BaseCommand):
    help = "Expire active sessions idle for longer than SESSION_TIMEOUT."

    def handle(self, *args, **options):
        expired = expire_inactive_sessions()
        self.stdout.write(f"Expired {len(expired)} session(s).")
