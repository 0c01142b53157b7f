"""Validation: forecast losses, backtests and crisis-window evaluation."""
