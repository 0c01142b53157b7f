"""Returns, volatility / correlation / drawdown / regime features, and the Parquet feature store."""
