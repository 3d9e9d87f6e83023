"""Serve Darkroom from one process: daphne for HTTP and websockets, plus, in embedded mode,
a Celery worker (with its beat) on threads inside the same process and an in-memory broker."""

import logging
import threading

from daphne.cli import CommandLineInterface
from django.conf import settings
from django.core.management.base import BaseCommand

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


def start_embedded_worker(*, concurrency: int = 4) -> None:
    worker = celery_app.WorkController(
        pool_cls="threads", concurrency=concurrency, queues=["default", "io", "media"], beat=True,
        without_heartbeat=True, without_mingle=True, without_gossip=True, loglevel="WARNING",
    )
    threading.Thread(target=worker.start, name="embedded-celery-worker", daemon=True).start()


class Command(BaseCommand):
    help = "Serve Darkroom (HTTP + websockets). Without REDIS_URL it also runs the worker in-process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, host, port, **options):
        if settings.EMBEDDED:
            start_embedded_worker()
            self.stdout.write("Embedded mode: SQLite, files under var/, worker in this process.")
        CommandLineInterface().run(["-b", host, "-p", str(port), "config.asgi:application"])
