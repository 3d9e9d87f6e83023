"""The node-type contract: what a node takes (ports), what it is told (fields), and how it runs.

A node type is an instance of a `NodeType` subclass registered in `registry.node_registry` by the
app that owns the capability. The engine only ever calls the methods below; it knows nothing of
images, catalogue models or credits prices beyond what they return.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class PortType:
    IMAGE = "image"
    TEXT = "text"
    VIDEO = "video"


@dataclass(frozen=True)
class Port:
    name: str
    type: str
    label: str
    required: bool = True
    # An input that takes several edges (their values are joined in edge order).
    multiple: bool = False

    def as_json(self) -> dict:
        return {
            "name": self.name, "type": self.type, "label": self.label, "required": self.required,
            "multiple": self.multiple,
        }


class FieldError(ValueError):
    """A parameter value that can't be used; the message is shown beside the field."""


_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Field:
    """One parameter of a node type, as a form field and as a validator.

    kind: "choice" (one of `choices`), "int", "float", "string" (one line), "text" (several lines),
    "bool", "colour" (#rrggbb) or "model" (a catalogue slug from `choices_fn()`).
    """

    name: str
    label: str
    kind: str
    default: Any = None
    choices: tuple[tuple[Any, str], ...] = ()
    choices_fn: Callable[[], list[tuple[Any, str]]] | None = None
    min: float | None = None
    max: float | None = None
    required: bool = False
    help: str = ""
    max_length: int = 2000
    # Shown under "Advanced" in the builder (test knobs, rarely changed settings).
    advanced: bool = False

    def options(self) -> list[tuple[Any, str]]:
        return list(self.choices_fn()) if self.choices_fn else list(self.choices)

    def clean(self, raw):
        if raw is None or (isinstance(raw, str) and not raw.strip() and self.kind not in ("text", "string")):
            raw = None
        if raw is None or raw == "":
            if self.required:
                raise FieldError(f"{self.label} is required.")
            return self.default
        kind = self.kind
        if kind in ("choice", "model"):
            for value, _ in self.options():
                if str(value) == str(raw):
                    return value
            if kind == "model":
                raise FieldError(f"{self.label}: choose a model from the catalogue.")
            raise FieldError(f"{self.label}: not one of the choices.")
        if kind == "int":
            if isinstance(raw, bool):
                raise FieldError(f"{self.label} must be a whole number.")
            try:
                value = int(str(raw).strip())
            except ValueError:
                raise FieldError(f"{self.label} must be a whole number.") from None
            return self._bounded(value)
        if kind == "float":
            try:
                value = float(str(raw).strip())
            except ValueError:
                raise FieldError(f"{self.label} must be a number.") from None
            if isinstance(raw, bool) or not math.isfinite(value):  # NaN and ∞ pass every bound; JSONB refuses them
                raise FieldError(f"{self.label} must be a number.")
            return self._bounded(value)
        if kind in ("string", "text"):
            if not isinstance(raw, str):
                raise FieldError(f"{self.label} must be text.")
            value = raw.strip()
            if not value and self.required:
                raise FieldError(f"{self.label} is required.")
            if len(value) > self.max_length:
                raise FieldError(f"{self.label} is too long: at most {self.max_length} characters.")
            return value or (self.default if self.default is not None else "")
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "on", "yes"):
                return True
            if str(raw).lower() in ("0", "false", "off", "no"):
                return False
            raise FieldError(f"{self.label} must be true or false.")
        if kind == "colour":
            if not isinstance(raw, str) or not _COLOUR.match(raw.strip()):
                raise FieldError(f"{self.label} must be a colour like #ffffff.")
            return raw.strip().lower()
        raise FieldError(f"{self.label}: unknown kind of setting.")  # pragma: no cover - a programming error

    def _bounded(self, value):
        if self.min is not None and value < self.min:
            raise FieldError(f"{self.label} must be at least {self.min:g}.")
        if self.max is not None and value > self.max:
            raise FieldError(f"{self.label} must be at most {self.max:g}.")
        return value

    def as_json(self) -> dict:
        return {
            "name": self.name, "label": self.label, "kind": self.kind, "default": self.default,
            "choices": [{"value": value, "label": label} for value, label in self.options()],
            "min": self.min, "max": self.max, "required": self.required, "help": self.help,
            "advanced": self.advanced,
        }


# ---------------------------------------------------------------- what a node run is given and returns


@dataclass(frozen=True)
class NodeContext:
    """Everything a node type's `run` needs. `inputs` maps each input port to its value: a list of
    image dicts for image ports (see README), a string for text ports."""

    node_run_id: str
    run_id: str
    node_id: str
    user: Any
    params: dict
    inputs: dict
    attempt: int
    # The catalogue model this attempt uses (model nodes: the primary, then each fallback in turn).
    model: str = ""
    # The run's value for an exposed input node (a photo id, a prompt).
    exposed_value: Any = None


@dataclass(frozen=True)
class NodeResult:
    """Finished now: the outputs by port, and anything worth showing (scores …) in `meta`."""

    outputs: dict
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NodePending:
    """Started work elsewhere (a generation); the engine follows it and finishes the node later."""

    generation_id: str


@dataclass(frozen=True)
class FollowStatus:
    """How handed-off work is doing: still going (with progress), finished (`result`, and what it
    was `charged`), or failed."""

    progress: float | None = None
    result: NodeResult | None = None
    charged: int | None = None
    failure: "NodeFailed | None" = None


class NodeFailed(Exception):
    """This attempt failed. `retry`: the same model may work on another attempt (outages, the test
    knob); `fallback`: another model may work (unavailable or refused input). Messages are shown."""

    def __init__(self, message: str, *, code: str = "node_failed", retry: bool = True, fallback: bool = True):
        self.message = message
        self.code = code
        self.retry = retry
        self.fallback = fallback
        super().__init__(message)


class NodeType:
    """Subclass, set the attributes, implement `run`, and register an instance."""

    key: str = ""
    label: str = ""
    category: str = "Images"
    description: str = ""
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    fields: tuple[Field, ...] = ()
    # Celery queue its runs go to: "media" for local image work, "io" for provider calls.
    queue: str = "default"
    # Takes a catalogue model (the `model` field) and so a fallback model list.
    uses_model: bool = False
    # Filled in at run time from the run's inputs: "photo" or "text".
    exposed: str | None = None
    cacheable: bool = True
    # Its work is charged by what it hands off to (a generation holds and charges its own quote):
    # the engine hands back the node's share of the run's hold in the same transaction as `run`,
    # which must return NodePending; `follow` then reports on the work.
    hands_off: bool = False
    # Bump when a type's behaviour changes so earlier cached outputs are no longer reused.
    cache_version: int = 1

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def input(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)

    def clean_params(self, params: dict | None) -> tuple[dict, dict[str, str]]:
        """(cleaned params, {field: message}). Unknown settings are refused."""
        params = params or {}
        errors: dict[str, str] = {}
        cleaned = {}
        if not isinstance(params, dict):
            return {}, {"": "The settings must be an object."}
        for name in sorted(set(params) - {f.name for f in self.fields}):
            errors[name] = f"Unknown setting “{name}”."
        for f in self.fields:
            try:
                cleaned[f.name] = f.clean(params.get(f.name))
            except FieldError as error:
                errors[f.name] = str(error)
        return cleaned, errors

    def check(self, params: dict, connected: set[str]) -> dict[str, str]:
        """Rules across fields and ports (e.g. a prompt typed in or connected). {field: message}."""
        return {}

    def models(self, params: dict, fallback_models: list[str]) -> list[str]:
        return [params["model"], *fallback_models] if self.uses_model and params.get("model") else []

    def is_cacheable(self, params: dict) -> bool:
        return self.cacheable

    def price(self, params: dict, fallback_models: list[str]) -> int:
        """Credits held for this node before the run (the most any attempt can cost)."""
        return 0

    def unavailable_reason(self, params: dict) -> str:
        """Why this node can't run on this server now ('' when it can)."""
        return ""

    def resolve_input(self, *, user, value, params: dict):
        """Exposed nodes: the run's value for this node, checked and made canonical (an image dict,
        text). Raise an ApplicationError with a message for the user if it can't be used."""
        raise NotImplementedError  # pragma: no cover - only exposed types are asked

    def run(self, ctx: NodeContext) -> NodeResult | NodePending:  # pragma: no cover - abstract
        raise NotImplementedError

    def follow(self, ref: str) -> FollowStatus:  # pragma: no cover - only hands-off types are asked
        raise NotImplementedError

    def outputs_exist(self, outputs: dict, *, owner_id) -> bool:
        """Whether an earlier run's outputs can still be reused (their images were not deleted)."""
        from apps.workflows.images import image_refs_exist

        return image_refs_exist(outputs, owner_id=owner_id)

    def schema(self) -> dict:
        return {
            "key": self.key, "label": self.label, "category": self.category, "description": self.description,
            "inputs": [p.as_json() for p in self.inputs], "outputs": [p.as_json() for p in self.outputs],
            "fields": [f.as_json() for f in self.fields], "uses_model": self.uses_model,
            "exposed": self.exposed, "available": not self.unavailable_reason({}),
            "unavailable_reason": self.unavailable_reason({}),
        }
