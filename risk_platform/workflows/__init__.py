"""Workflows: the library functions an asset, a sensor or the CLI calls to do one whole step (train and register
a family, promote, monitor, gate the market data, triage alerts). They may import every other part of the library;
nothing in the library imports them."""
