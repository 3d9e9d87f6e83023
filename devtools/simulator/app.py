"""The provider simulator: Replicate-, fal-, OpenAI-, Stability- and ComfyUI-compatible APIs on
one loopback port, under /replicate, /fal, /openai, /stability and /comfyui, with fault knobs at
/_sim. Served by `python -m devtools.simulator`."""

from . import knobs
from .http import Request, Router, json_response
from .vendors import comfyui, fal, openai, replicate, stability

router = Router()


@router.route("GET", "/_sim/health")
async def health(request: Request):
    return json_response({"ok": True})


@router.route("GET", "/_sim/state")
async def state(request: Request):
    return json_response(knobs.snapshot())


@router.route("POST", "/_sim/knobs")
async def set_knobs(request: Request):
    """Body: {"<vendor>": {"error_rate": 1.0, ...}, ...}."""
    try:
        for vendor, values in request.json().items():
            knobs.set_knobs(vendor, values)
    except (ValueError, AttributeError) as error:
        return json_response({"detail": str(error)}, 400)
    return json_response(knobs.snapshot())


@router.route("POST", "/_sim/reset")
async def reset(request: Request):
    knobs.reset()
    return json_response(knobs.snapshot())


for vendor in (replicate, fal, openai, stability, comfyui):
    vendor.register(router)

application = router
