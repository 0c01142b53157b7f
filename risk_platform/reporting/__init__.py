"""What a person reads: formatted figures with units and small PNG charts (for Dagster Markdown metadata, inline
as base64, and MLflow artifacts)."""
