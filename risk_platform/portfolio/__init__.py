"""Portfolios: positions files (YAML or CSV), validated against the instruments."""
