"""Publishes a progress event to each bench user's live group every INTERVAL seconds, through the
channel layer as a worker does after storing an event, spread evenly over the interval.
Run with the stack's environment; prints {"sent": {user_id: n}, "late": n} as JSON at the end."""

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import django  # noqa: E402

django.setup()

from channels.layers import get_channel_layer  # noqa: E402

from apps.realtime.groups import user_group  # noqa: E402

# Sends in flight at once: a worker sends one at a time, and the channel layer's Redis pool holds 100.
IN_FLIGHT = 64
# About the size of a progress event's card fragment.
FILLER = "<div class=\"card\">" + "x" * 1400 + "</div>"


async def main(users: list[int], seconds: float, interval: float, start_at: float) -> dict:
    layer = get_channel_layer()
    late = [0]
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def per_user(position: int, user_id: int) -> int:
        group, sent = user_group(user_id), 0
        due = start_at + position / len(users) * interval
        while due < start_at + seconds:
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.1:
                late[0] += 1
            message = {"type": "generation.progress", "id": sent + 1,
                       "data": {"id": f"bench-{user_id}", "status": "running", "progress": 0.5, "revision": sent},
                       "html": FILLER, "sent_at": time.time()}
            async with in_flight:
                await layer.group_send(group, {"type": "live.event", "text": json.dumps(message)})
            sent += 1
            due += interval
        return sent

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    counts = await asyncio.gather(*(per_user(i, u) for i, u in enumerate(users)))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"sent": {str(u): n for u, n in zip(users, counts, strict=True)}, "late": late[0], "cpu_seconds": cpu}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users-file", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--start-at", type=float, required=True)
    args = parser.parse_args()
    users = json.loads(Path(args.users_file).read_text())
    print(json.dumps(asyncio.run(main(users, args.seconds, args.interval, args.start_at))))
