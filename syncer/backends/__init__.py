"""Talking to the ends: MLflow clients and capabilities per endpoint, authentication, rate limits,
retries and failure classification, artifact transfer (MLflow repositories, Azure Blob, Databricks
signed URLs, Unity Catalog files), metric histories, telemetry.

May import: syncer.core.
"""
