"""Create the first operator account when there is none, and say once how to log in."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an 'admin' operator account if no account exists yet (prints its password once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        users = get_user_model()
        if users.objects.exists():
            self.stdout.write(
                f"Accounts exist; log in with yours (reset a password: manage.py changepassword {username})."
            )
            return
        password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username=username, password=password, email="")
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the first account. Log in as '{username}' with password: {password}\n"
                f"(shown once; change it with: manage.py changepassword {username})"
            )
        )
