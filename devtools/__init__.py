"""Developer tools that are not part of the product (the wheel packages only apps* and config*).

- ``devtools.simulator``: Replicate-, fal-, OpenAI-, Stability- and ComfyUI-compatible APIs on loopback
  (``python -m devtools.simulator``)
- ``devtools.stripe_fake``: Stripe's REST shapes on loopback (``python -m devtools.stripe_fake``)
- ``devtools.standins``: the stand-in keys and URLs both fakes accept, as environment variables
- ``devtools.stack``: the one launcher of Darkroom's production shape (PostgreSQL/Redis, daphne,
  Celery worker and beat as processes) used by the live tests, ``make bench`` and ``make chaos``
- ``devtools.bench``, ``devtools.chaos``: ``make bench`` and ``make chaos``
- ``devtools.env``: runs a command with PROVIDER_SIMULATOR_URL / STRIPE_FAKE_URL turned into the
  real variables the settings read (``make run`` uses it)
"""
