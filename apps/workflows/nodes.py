"""The engine's own node types: a text input and a reroute (the other types live in the apps that
own the capability: apps/media/workflow_nodes.py, apps/generations/workflow_nodes.py)."""

from apps.core.exceptions import ApplicationError

from .engine.registry import register_node_type
from .engine.types import Field, NodeResult, NodeType, Port, PortType

MAX_TEXT = 2000


class TextInput(NodeType):
    key = "input_text"
    label = "Text input"
    category = "Inputs"
    description = "A prompt or other text, typed in when the workflow is run."
    outputs = (Port("text", PortType.TEXT, "Text"),)
    fields = (Field("default", "Default text", "text", default="", help="Used when the run leaves it empty."),)
    exposed = "text"

    def resolve_input(self, *, user, value, params):
        if value is not None and not isinstance(value, str):
            raise ApplicationError("This input takes text.")
        text = (value or "").strip() or params.get("default", "")
        if not text:
            raise ApplicationError("Type the text for this input.")
        if len(text) > MAX_TEXT:
            raise ApplicationError(f"The text is too long: at most {MAX_TEXT} characters.")
        return text

    def run(self, ctx):
        return NodeResult({"text": ctx.exposed_value})


class Reroute(NodeType):
    key = "reroute"
    label = "Reroute"
    category = "Flow"
    description = "Passes its images on unchanged; joins several branches into one list. Free."
    inputs = (Port("image", PortType.IMAGE, "Images", multiple=True),)
    outputs = (Port("image", PortType.IMAGE, "Images"),)

    def run(self, ctx):
        return NodeResult({"image": list(ctx.inputs.get("image") or [])})


register_node_type(TextInput())
register_node_type(Reroute())
