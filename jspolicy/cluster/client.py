"""The Kubernetes API client for cluster mode: from a kubeconfig, or the pod's service account."""

from __future__ import annotations

from kubernetes import client, config

USER_AGENT = "jspolicy"


def api_client(kubeconfig: str | None) -> client.ApiClient:
    """A client of its own per caller (each process and thread pool builds one; they are not shared)."""
    if kubeconfig:
        made: client.ApiClient = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    else:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        made = client.ApiClient(configuration)
    made.user_agent = USER_AGENT  # also the field manager of what jspolicy writes
    return made
