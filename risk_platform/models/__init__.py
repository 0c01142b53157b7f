"""ML models on the feature store: LSTM volatility/regime forecaster, GNN dynamic correlation, GAN and VAE
scenario generators; plain nn.Modules, LightningModules, DataModules and training functions."""
