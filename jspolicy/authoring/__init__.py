"""Policy authoring: the @jspolicy/types declarations, the pinned TypeScript compiler and ``jspolicy init``."""
