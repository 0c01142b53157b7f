"""The live risk monitor: intraday VaR/ES on each price update, limits, alerts, and its web page."""
