"""`python -m devtools.stripe_fake [--port 12111] [--webhook-url URL]`: the Stripe fake as a
process that delivers signed webhooks to Darkroom, for demos and live tests.

It signs with the stand-in webhook secret (devtools.standins); run Darkroom with
`make run STRIPE_FAKE_URL=http://127.0.0.1:12111` (or the variables of `--print-env`) so both agree.
Webhooks go to SITE_URL (default http://127.0.0.1:8000) + dj-stripe's endpoint path, unless
--webhook-url says otherwise.
"""

import argparse
import os
import signal
import sys

from devtools import standins


def _stop(signum, frame):
    raise KeyboardInterrupt


def webhook_path() -> str:
    """dj-stripe's endpoint path for the stand-in secret, as Darkroom with stripe_fake_env() serves it."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ["DJSTRIPE_WEBHOOK_SECRET"] = standins.STRIPE_WEBHOOK_SECRET
    import django

    django.setup()
    from apps.credits.services import credits_stripe_webhook_path

    return credits_stripe_webhook_path()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.stripe_fake", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-url", help="where to send signed events (default: SITE_URL + dj-stripe's path)")
    parser.add_argument("--print-env", action="store_true",
                        help="print the environment that points Darkroom at this fake, and exit")
    args = parser.parse_args(argv)
    if args.print_env:
        for name, value in standins.stripe_fake_env(f"http://{args.host}:{args.port}").items():
            print(f"{name}={value}")
        return
    from devtools.stripe_fake import FakeStripe, FakeStripeServer

    webhook_url = args.webhook_url or (
        os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/") + webhook_path()
    )
    fake = FakeStripe(
        secret_key=standins.STRIPE_SECRET_KEY, webhook_url=webhook_url, webhook_secret=standins.STRIPE_WEBHOOK_SECRET,
        on_delivery=lambda d: print(f"webhook {d.event_type} {d.event_id} → {d.status or d.error}", flush=True),
    )
    server = FakeStripeServer(fake, host=args.host, port=args.port)
    print(f"Stripe fake at {server.url} — webhooks to {webhook_url}", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
