"""Workflow templates: ComfyUI API-format graphs, one JSON file per model, filled in per request.

The route's `model` names the file (`templates/<model>.json`). The nodes to fill are found by
their `_meta.title`, so a graph exported from ComfyUI ("Save (API Format)") only needs its nodes
retitled:

- `positive` — a text encoder: `text` ← the prompt
- `negative` — optional, a text encoder: `text` ← the negative prompt ("" when there is none)
- `latent`   — an empty-latent node: `width`, `height`, `batch_size`
- `sampler`  — `seed` (KSampler) or `noise_seed` (KSamplerAdvanced, RandomNoise)
- `output`   — the SaveImage whose images are the result: `filename_prefix` ← darkroom/<job id>
"""

import copy
import json
import secrets
from pathlib import Path

from apps.providers.types import GenerationRequest

TEMPLATE_DIR = Path(__file__).parent / "templates"
MARKERS = ("positive", "negative", "latent", "sampler", "output")
REQUIRED_MARKERS = ("positive", "latent", "sampler", "output")
SEED_LIMIT = 2**64  # ComfyUI's seed inputs are unsigned 64-bit
# Empty-latent nodes take sizes on their own grid (the `step` of their width/height inputs).
SIZE_STEP = {"EmptyLatentImage": 8, "EmptySD3LatentImage": 16}
MAX_SIZE = 16384  # ComfyUI's MAX_RESOLUTION


class TemplateError(Exception):
    """A missing or malformed template: a deployment bug, not the user's input."""


def load_template(name: str, directory: Path = TEMPLATE_DIR) -> dict:
    path = directory / f"{name}.json"
    if path.parent != directory or not path.is_file():
        raise TemplateError(f"no workflow template for model {name!r}")
    return json.loads(path.read_text())


def marked_nodes(graph: dict) -> dict[str, str]:
    """Marker title → node id."""
    found = {}
    for node_id, node in graph.items():
        title = node.get("_meta", {}).get("title")
        if title in MARKERS:
            if title in found:
                raise TemplateError(f"two nodes are titled {title!r}")
            found[title] = node_id
    if missing := [marker for marker in REQUIRED_MARKERS if marker not in found]:
        raise TemplateError(f"no node titled {', '.join(missing)}")
    return found


def snap(value: int, step: int) -> int:
    return min(MAX_SIZE, max(step, round(value / step) * step))


def comfy_seed(seed: str | None) -> int:
    # Our seeds are validated to 64 bits already; the modulo only keeps a wider one in range.
    return secrets.randbelow(SEED_LIMIT) if seed is None else int(seed) % SEED_LIMIT


def build_workflow(template: dict, request: GenerationRequest) -> tuple[dict, int]:
    """The template filled in for this request, and the seed it will run with."""
    graph = copy.deepcopy(template)
    nodes = marked_nodes(graph)

    def inputs(marker: str) -> dict:
        return graph[nodes[marker]]["inputs"]

    inputs("positive")["text"] = request.prompt
    if "negative" in nodes:
        inputs("negative")["text"] = request.negative_prompt
    elif request.negative_prompt:
        raise TemplateError("the route takes a negative prompt but its template has no `negative` node")
    step = SIZE_STEP.get(graph[nodes["latent"]]["class_type"], 8)
    inputs("latent").update(
        width=snap(request.width, step), height=snap(request.height, step), batch_size=request.num_images
    )
    seed = comfy_seed(request.seed)
    sampler = inputs("sampler")
    sampler["noise_seed" if "noise_seed" in sampler else "seed"] = seed
    inputs("output")["filename_prefix"] = f"darkroom/{request.job_id}"
    return graph, seed
