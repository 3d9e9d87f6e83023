"""Validation on save: every rule, each error pointing at its node (and field or port)."""

import pytest

from apps.workflows.engine.graph import GraphInvalid, graph_validate

from .conftest import diamond, edge, node

pytestmark = pytest.mark.usefixtures("catalog")


def errors_of(graph) -> list[dict]:
    with pytest.raises(GraphInvalid) as raised:
        graph_validate(graph)
    return [error.as_json() for error in raised.value.errors]


def test_a_valid_graph_is_normalised_with_defaults():
    graph = graph_validate(diamond())
    assert list(graph.nodes) == ["photo", "cutout", "upscale", "colour", "composite"]
    assert graph.nodes["upscale"] == {
        "id": "upscale", "type": "upscale", "label": "", "params": {"factor": 2, "fail_attempts": 0},
        "retry": {"max_attempts": 1, "backoff_seconds": 2}, "fallback_models": [], "position": {"x": 0, "y": 0},
    }
    assert graph.nodes["composite"]["params"] == {"colour": "#ffffff", "padding": 4, "fail_attempts": 0}
    assert graph.parents("composite") == ["upscale", "colour"]
    assert graph.children("cutout") == ["upscale", "colour"]
    assert graph.descendants("cutout") == ["upscale", "colour", "composite"]
    assert graph.exposed() == ["photo"]


def test_an_unknown_node_type_points_at_the_node():
    graph = {"nodes": [node("a", "teleport")], "edges": []}
    assert errors_of(graph) == [{"node": "a", "field": "type", "message": "Unknown node type “teleport”."}]


def test_invalid_and_unknown_parameters_point_at_the_node_and_field():
    graph = diamond()
    graph["nodes"][2]["params"] = {"factor": 3, "sharpen": True}
    graph["nodes"][4]["params"] = {"colour": "white", "padding": 90}
    assert errors_of(graph) == [
        {"node": "upscale", "field": "sharpen", "message": "Unknown setting “sharpen”."},
        {"node": "upscale", "field": "factor", "message": "Factor: not one of the choices."},
        {"node": "composite", "field": "colour", "message": "Backdrop colour must be a colour like #ffffff."},
        {"node": "composite", "field": "padding", "message": "Margin (%) must be at most 40."},
    ]


def test_a_cycle_is_refused_on_each_node_of_it_not_on_what_hangs_off_it():
    graph = {
        "nodes": [node("photo", "input_photo"), node("a", "reroute"), node("b", "reroute"), node("c", "reroute"),
                  node("after", "upscale")],
        "edges": [edge("photo", "a"), edge("a", "b"), edge("b", "c"), edge("c", "a"), edge("c", "after")],
    }
    assert errors_of(graph) == [
        {"node": n, "field": None, "message": "This node is part of a cycle: a workflow must flow one way."}
        for n in ["a", "b", "c"]
    ]


def test_incompatible_port_types_point_at_the_receiving_port():
    graph = {
        "nodes": [node("prompt", "input_text"), node("big", "upscale")],
        "edges": [edge("prompt", "big", from_port="text")],
    }
    assert errors_of(graph) == [
        {"node": "big", "field": "image", "message": "“Image” takes image, but “Text” of “prompt” gives text."},
        {"node": "big", "field": "image", "message": "Connect something to “Image”."},
    ]


def test_required_inputs_must_be_connected():
    graph = {"nodes": [node("photo", "input_photo"), node("mix", "composite")], "edges": [
        edge("photo", "mix", to_port="backdrop"),
    ]}
    assert errors_of(graph) == [{"node": "mix", "field": "image", "message": "Connect something to “Subject”."}]


def test_unknown_ports_and_nodes_in_edges():
    graph = {"nodes": [node("photo", "input_photo"), node("big", "upscale")], "edges": [
        edge("photo", "big", from_port="picture"),
        edge("photo", "big", to_port="mask"),
        edge("ghost", "big"),
        edge("photo", "big"),
    ]}
    assert errors_of(graph) == [
        {"node": "photo", "field": "picture", "message": "Photo input has no output “picture”."},
        {"node": "big", "field": "mask", "message": "Upscale has no input “mask”."},
        {"node": "big", "field": None, "message": "Edge 3 names a node that is not in the workflow (“ghost”)."},
    ]


def test_node_ids_must_be_unique_and_well_formed():
    graph = {"nodes": [node("a", "reroute"), node("a", "reroute"), node("9 lives", "reroute")], "edges": []}
    errors = errors_of(graph)
    assert {"node": "a", "field": "id", "message": "Two nodes are called “a”."} in errors
    assert {"node": "9 lives", "field": "id",
            "message": "Node 3: an id is a letter then up to 39 letters, digits, “-” or “_”."} in errors


def test_a_generate_node_needs_a_prompt_typed_or_connected():
    lonely = {"nodes": [node("gen", "generate", model="offline-sketch")], "edges": []}
    assert errors_of(lonely) == [
        {"node": "gen", "field": "prompt", "message": "Type a prompt or connect a text input to “Prompt”."}
    ]
    typed = {"nodes": [node("gen", "generate", model="offline-sketch", prompt="a fox")], "edges": []}
    assert graph_validate(typed).nodes["gen"]["params"]["prompt"] == "a fox"
    connected = {"nodes": [node("p", "input_text"), node("gen", "generate", model="offline-sketch")],
                 "edges": [edge("p", "gen", from_port="text", to_port="prompt")]}
    assert graph_validate(connected).parents("gen") == ["p"]


def test_a_generate_node_takes_only_text_to_image_models():
    graph = {"nodes": [node("gen", "generate", model="kling-video", prompt="x")], "edges": []}
    assert errors_of(graph) == [
        {"node": "gen", "field": "model", "message": "Model: choose a model from the catalogue."}
    ]


def test_retry_policy_and_fallback_models_are_checked():
    graph = {"nodes": [
        {**node("gen", "generate", model="offline-sketch", prompt="x"), "retry": {"max_attempts": 9, "jitter": 1},
         "fallback_models": ["offline-studio", "nonsense"]},
        {**node("big", "reroute"), "fallback_models": ["offline-studio"]},
    ], "edges": []}
    assert errors_of(graph) == [
        {"node": "gen", "field": "retry.max_attempts", "message": "Attempts must be a whole number from 1 to 5."},
        {"node": "gen", "field": "retry", "message": "Unknown retry setting “jitter”."},
        {"node": "gen", "field": "fallback_models",
         "message": "Fallback model “nonsense” is not a model this node can use."},
        {"node": "big", "field": "fallback_models", "message": "Reroute does not use a model, so it has no fallbacks."},
        {"node": "big", "field": "image", "message": "Connect something to “Images”."},
    ]


def test_empty_and_malformed_graphs():
    for bad, message in [
        ({}, "A workflow is an object with a list of nodes and a list of edges."),
        ({"nodes": [], "edges": []}, "Add at least one node."),
        ([1, 2], "A workflow is an object with a list of nodes and a list of edges."),
    ]:
        assert errors_of(bad) == [{"node": None, "field": None, "message": message}]


def test_at_most_max_nodes():
    graph = {"nodes": [node(f"n{i}", "reroute") for i in range(4)], "edges": []}
    with pytest.raises(GraphInvalid) as raised:
        graph_validate(graph, max_nodes=3)
    assert raised.value.errors[0].message == "A workflow has at most 3 nodes; this one has 4."
