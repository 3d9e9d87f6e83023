from daphne.server import Server
from django.core.management.base import BaseCommand

from apps.providers.simulator.app import application


class Command(BaseCommand):
    help = (
        "Serve Replicate-, fal-, OpenAI-, Stability- and ComfyUI-compatible APIs on loopback, with fault knobs. "
        "Point Darkroom at it with PROVIDER_SIMULATOR_URL=http://HOST:PORT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8800)

    def handle(self, *args, host, port, **options):
        self.stdout.write(f"Provider simulator at http://{host}:{port}/ (knobs: POST /_sim/knobs)")
        Server(application=application, endpoints=[f"tcp:port={port}:interface={host}"], verbosity=0).run()
