"""Stand-in credentials and URLs for the local fakes. They live here, never in config/settings/:
the product's settings read real variables (REPLICATE_API_TOKEN, REPLICATE_BASE_URL, …), and these
helpers give the processes the developer tools start the values that point them at the fakes.

    simulator_env("http://127.0.0.1:8800")   # {"REPLICATE_BASE_URL": "http://…/replicate", …}
    stripe_fake_env("http://127.0.0.1:12111") # {"STRIPE_API_BASE": …, "STRIPE_SECRET_KEY": …, …}

The simulator checks exactly these keys (devtools/simulator/vendors/*.py import them), so a
Darkroom given `simulator_env(url)` and the simulator always agree.
"""

# ---------------------------------------------------------------- provider simulator
# Where each provider lives under the simulator's one port.
SIMULATOR_PATHS = {
    "REPLICATE_BASE_URL": "/replicate",
    "FAL_QUEUE_URL": "/fal",
    "FAL_JWKS_URL": "/fal/.well-known/jwks.json",
    "OPENAI_BASE_URL": "/openai/v1",
    "STABILITY_BASE_URL": "/stability",
    "COMFYUI_URL": "/comfyui",
}
REPLICATE_API_TOKEN = "r8_simulated"
# Standard Webhooks secret: "whsec_" + base64 of the HMAC key.
REPLICATE_WEBHOOK_SECRET = "whsec_c2ltdWxhdGVkLXJlcGxpY2F0ZS1zZWNyZXQtMDEyMzQ1Njc4OQ=="
FAL_KEY = "simulated:key"
OPENAI_API_KEY = "sk-simulated"
STABILITY_API_KEY = "sk-simulated"
SIMULATOR_CREDENTIALS = {
    "REPLICATE_API_TOKEN": REPLICATE_API_TOKEN,
    "REPLICATE_WEBHOOK_SECRET": REPLICATE_WEBHOOK_SECRET,
    "FAL_KEY": FAL_KEY,
    "OPENAI_API_KEY": OPENAI_API_KEY,
    "STABILITY_API_KEY": STABILITY_API_KEY,
}

# ---------------------------------------------------------------- Stripe fake
STRIPE_SECRET_KEY = "sk_test_DarkroomFakeStripe0123456789abcd"
STRIPE_PUBLISHABLE_KEY = "pk_test_DarkroomFakeStripe0123456789abcd"
STRIPE_WEBHOOK_SECRET = "whsec_ZGFya3Jvb20tc3RyaXBlLWZha2Utc2lnbmluZy1zZWNyZXQ"


def simulator_settings(url: str) -> dict[str, str]:
    """Every provider setting (URL and credential) pointing at the simulator at `url`."""
    url = url.rstrip("/")
    return {name: url + path for name, path in SIMULATOR_PATHS.items()} | SIMULATOR_CREDENTIALS


def simulator_env(url: str) -> dict[str, str]:
    """The environment that points Darkroom's processes at the simulator: provider URLs and keys,
    and downloads from loopback allowed (its output files are served from 127.0.0.1)."""
    return simulator_settings(url) | {"PROVIDER_FETCH_ALLOW_PRIVATE": "true"}


def stripe_fake_settings(url: str) -> dict[str, str]:
    return {
        "STRIPE_API_BASE": url.rstrip("/"),
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": STRIPE_PUBLISHABLE_KEY,
        "DJSTRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    }


def stripe_fake_env(url: str) -> dict[str, str]:
    """The environment that points Darkroom's processes at the Stripe fake at `url`."""
    return stripe_fake_settings(url)


def demo_env(environ: dict[str, str]) -> dict[str, str]:
    """`environ` with PROVIDER_SIMULATOR_URL and STRIPE_FAKE_URL (the developer's shorthands)
    expanded into the variables the settings read; a variable already set wins."""
    out = dict(environ)
    added: dict[str, str] = {}
    if url := environ.get("PROVIDER_SIMULATOR_URL", "").strip():
        added |= simulator_env(url)
    if url := environ.get("STRIPE_FAKE_URL", "").strip():
        added |= stripe_fake_env(url)
    for name, value in added.items():
        if not out.get(name):
            out[name] = value
    return out
