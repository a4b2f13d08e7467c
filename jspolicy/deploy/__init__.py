"""Deployment manifests for a cluster: the YAML templates in webhook-config/, rendered for one install."""

from jspolicy.deploy.renderer import DEFAULT_NAMESPACE, DEFAULT_REPLICAS, default_image, dump, render

__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_REPLICAS", "default_image", "dump", "render"]
