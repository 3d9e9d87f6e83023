"""Run a command with the developer shorthands expanded (see devtools.standins.demo_env):

    PROVIDER_SIMULATOR_URL=http://127.0.0.1:8800 python -m devtools.env python manage.py serve
    STRIPE_FAKE_URL=http://127.0.0.1:12111 python -m devtools.env python manage.py serve

`make run PROVIDER_SIMULATOR_URL=…` goes through it. Without either variable the command runs
with the environment unchanged.
"""

import os
import sys

from devtools.standins import demo_env


def main(argv: list[str]) -> None:
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("usage: python -m devtools.env COMMAND [ARG …]")
    os.execvpe(argv[0], argv, demo_env(dict(os.environ)))


if __name__ == "__main__":
    main(sys.argv[1:])
