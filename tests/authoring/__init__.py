"""Tests of the TypeScript declarations and ``jspolicy init``."""
