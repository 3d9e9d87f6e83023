from tests.webhook_receiver import receiver  # noqa: F401 — the loopback webhook receiver fixture
