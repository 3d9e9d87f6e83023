from apps.workflows import services


def workflow_with(user, graph, *, name="Product shot"):
    """A workflow saved through the service, with `graph` as its version 1."""
    return services.workflow_create(user=user, name=name, graph=graph)
