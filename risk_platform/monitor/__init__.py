"""The live risk monitor: snapshots of the book's risk on each price update, limits, alerts and anomalies."""
