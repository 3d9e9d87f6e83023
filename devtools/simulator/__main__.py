"""`python -m devtools.simulator [--host 127.0.0.1] [--port 8800]`: Replicate-, fal-, OpenAI-,
Stability- and ComfyUI-compatible APIs on loopback, with fault knobs at /_sim.

Point Darkroom at it with the variables `--print-env` prints (devtools.standins.simulator_env), or
with the shorthand `make run PROVIDER_SIMULATOR_URL=http://127.0.0.1:8800`, which expands to them.
"""

import argparse

from devtools.standins import simulator_env


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.simulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--print-env", action="store_true",
                        help="print the environment that points Darkroom at this simulator, and exit")
    args = parser.parse_args(argv)
    url = f"http://{args.host}:{args.port}"
    if args.print_env:
        for name, value in simulator_env(url).items():
            print(f"{name}={value}")
        return
    from daphne.server import Server

    from devtools.simulator.app import application

    print(f"Provider simulator at {url}/ (knobs: POST /_sim/knobs); "
          f"run Darkroom with PROVIDER_SIMULATOR_URL={url} (make run) or the variables of --print-env",
          flush=True)
    Server(application=application, endpoints=[f"tcp:port={args.port}:interface={args.host}"], verbosity=0).run()


if __name__ == "__main__":
    main()
