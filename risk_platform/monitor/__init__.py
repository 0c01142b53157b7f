"""The live risk monitor: intraday figures per price update, published to streams and shown on a live page."""
