"""Cluster access for policies' get/list/create/update/remove: one interface, two implementations."""
