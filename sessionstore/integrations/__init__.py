"""Adapters that let agent frameworks keep their sessions in sessionstore: one module
per framework, each a thin mapping onto the async API, installed by its extra
(docs/integrations.md).
"""
