"""A Django test client speaking to /api/v1 with an API key (shared by the developer-platform tests)."""

import json

from django.test import Client


class ApiClient:
    def __init__(self, secret: str | None, *, prefix: str = "/api/v1"):
        self.client = Client()
        self.prefix = prefix
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path, headers=None, **params):
        return self.client.get(f"{self.prefix}{path}", params, headers=self.headers | (headers or {}))

    def post(self, path, body=None, *, raw: str | None = None, key: str | None = None, headers=None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        headers = self.headers | ({"Idempotency-Key": key} if key is not None else {}) | (headers or {})
        return self.client.post(f"{self.prefix}{path}", data, content_type="application/json", headers=headers)

    def multipart(self, path, data, *, key: str | None = None):
        headers = self.headers | ({"Idempotency-Key": key} if key is not None else {})
        return self.client.post(f"{self.prefix}{path}", data, headers=headers)

    def delete(self, path):
        return self.client.delete(f"{self.prefix}{path}", headers=self.headers)
