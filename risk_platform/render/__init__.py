"""Figures as people read them: formatted numbers with units and small PNG charts (bytes, or inline Markdown for
the Dagster UI). Conventions only: no risk, model or data logic."""
