"""The Kubernetes API client for cluster mode: from a kubeconfig, or the pod's service account."""

from __future__ import annotations

from kubernetes import client, config


def api_client(kubeconfig: str | None) -> client.ApiClient:
    """A client of its own per caller (each process and thread pool builds one; they are not shared)."""
    if kubeconfig:
        made: client.ApiClient = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        return made
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)
