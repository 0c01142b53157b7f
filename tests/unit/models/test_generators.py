"""Scenario generators (conditional WGAN-GP, conditional VAE), the FHS bootstrap baseline and the generator-quality
metrics: fast_dev_run of both modules, shapes and units of the sampler, scaling and volatility prior in the
state_dict, the Student-t output noise, torch.export, seeded reproducibility, the training window, input errors,
the NaN-loss guard, the training-time budget, the factor space of a wide universe (a synthetic 80-series panel:
point-in-time fit, round trip through the state_dict, torch.export and the registry, covariance of the samples),
and metrics on hand-computable cases (and their sampled forms at scale against the direct definitions)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.stats import multivariate_t, norm
from sklearn.covariance import ledoit_wolf
from sklearn.decomposition import PCA
from torch.utils.data import TensorDataset

from risk_platform.errors import ComputationError, InputError
from risk_platform.models.datasets import REGIME_INDEX
from risk_platform.models.generator_quality import (
    average_lower_tail_dependence,
    average_pairwise_correlation,
    bootstrap_interval,
    correlation_rmse,
    discriminative_score,
    evaluate_generators,
    excess_kurtosis,
    generator_quality,
    hill_left_tail_index,
    kurtosis_interval,
    lower_tail_dependence,
    portfolio_weights,
    series_sample,
)
from risk_platform.models.generators import (
    ConditionalMLP,
    FactorModel,
    FHSBootstrap,
    GANConfig,
    GANModule,
    LocationScaleDecoder,
    MomentCalibration,
    RegimeVolPrior,
    ScenarioDataModule,
    ScenarioSampler,
    VAEConfig,
    build_sampler,
    devolatilised_rows,
    dispersion_scale,
    previous_day_vol,
    principal_factors,
    scenario_rows,
    train_gan,
    train_vae,
)
from risk_platform.models.sampler_inputs import scenario_inputs
from risk_platform.models.training import make_trainer, seed_everything
from risk_platform.regime import volatility_rank

SHORT_END = "2008-12-31"  # 378 complete days: 31 low, 231 normal, 116 high
TRAINERS = {"gan": (train_gan, GANConfig), "vae": (train_vae, VAEConfig)}


def tiny(config_cls, **overrides):
    """A config that trains in about a second on the short window."""
    settings = dict(hidden=(32, 32), latent_dim=4, batch_size=64, max_epochs=1, train_end=SHORT_END)
    return config_cls(**{**settings, **overrides})


@pytest.fixture(scope="module")
def dev_runs(daily_features):
    """fast_dev_run of each generator on the whole bundled data with its demo architecture."""
    return {kind: train(daily_features, cls.demo(), fast_dev_run=True) for kind, (train, cls) in TRAINERS.items()}


# ------------------------------------------------------------------------------------------ generators


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_fast_dev_run_gives_finite_scenarios_of_the_right_shape(dev_runs, kind):
    result = dev_runs[kind]
    k = len(result.symbols)
    assert k == 28 and result.sampler.symbols == result.symbols
    assert result.n_train > 3000 and result.train_start >= pd.Timestamp("2007-04-01")
    assert result.history and all(name.startswith(("epoch", "train")) for name in result.history[0])
    for regime in REGIME_INDEX:
        x = result.sampler.sample(64, regime, seed=1)
        assert x.shape == (64, k) and np.isfinite(x).all()
        assert 0.0 < result.metrics[f"vol_dispersion_scale_{regime}"] < 1.5  # match_variance (the default)
    assert_allclose(result.sampler.sample(8, "high", seed=3), result.sampler.sample(8, "high", seed=3))
    with pytest.raises(InputError, match="unknown regime"):
        result.sampler.sample(2, "crisis")


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_state_dict_carries_the_training_scaling_and_round_trips(dev_runs, daily_features, kind):
    result = dev_runs[kind]
    state = result.sampler.state_dict()
    rows, sigma = devolatilised_rows(daily_features, backfill=True)
    assert len(rows) == len(scenario_rows(daily_features)) == result.n_train  # back-filled warm-up: no row lost
    shocks = rows.returns / sigma
    assert_allclose(state["mean"].numpy(), shocks.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert_allclose(state["std"].numpy(), shocks.std(axis=0, ddof=1), rtol=1e-5)
    high = np.log(sigma[rows.regime == REGIME_INDEX["high"]])
    assert_allclose(state["vol.loc"][REGIME_INDEX["high"]].numpy(), high.mean(axis=0), rtol=1e-5)
    fresh = build_sampler(result.config, result.symbols)
    fresh.load_state_dict(state)
    assert_allclose(fresh.sample(16, "low", seed=5), result.sampler.sample(16, "low", seed=5))


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_forward_takes_noise_and_onehot_and_returns_original_units(dev_runs, kind):
    sampler: ScenarioSampler = dev_runs[kind].sampler
    n, k = 10, len(sampler.symbols)
    inputs = scenario_inputs(n, sampler.latent_dim, "high", k, seed=0)
    noise, onehot = inputs[:, : sampler.latent_dim], inputs[:, sampler.latent_dim: sampler.latent_dim + 3]
    with torch.no_grad():
        out = sampler(inputs)
        shocks = sampler.calibration(sampler.core(noise[:, : sampler.core_dim], onehot), onehot) * sampler.std
        shocks = shocks + sampler.mean
        sigma = sampler.vol(noise[:, sampler.core_dim:], onehot)
    assert out.shape == (n, k) and inputs.shape == (n, sampler.input_dim)
    assert_allclose(out.numpy(), (shocks * sigma).numpy(), rtol=1e-5)
    config = dev_runs[kind].config
    assert sampler.core_dim == config.latent_dim + k + config.noise_df  # [z, eps, chi]: location-scale, t noise
    assert sampler.latent_dim == sampler.core_dim + k  # then the volatility-state noise
    assert sampler.input_dim == sampler.latent_dim + 3 + k + 1  # then [log vol (k), weight]
    # a given volatility (weight 1) replaces the regime's volatility state: shocks x today's volatility
    today = np.linspace(0.005, 0.03, k)
    given = scenario_inputs(n, sampler.latent_dim, "high", k, seed=0, volatility=today)
    with torch.no_grad():
        assert_allclose(sampler(given).numpy(), (shocks * torch.as_tensor(today, dtype=torch.float32)).numpy(),
                        rtol=1e-4, atol=1e-9)
    assert_allclose(sampler.sample(n, "high", seed=0, volatility=today), sampler(given).detach().numpy(), rtol=1e-6)
    with pytest.raises(InputError, match="positive finite"):
        sampler.sample(2, "high", volatility=np.zeros(k))


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_sampler_exports_with_torch_export(dev_runs, kind):
    sampler = dev_runs[kind].sampler
    k = len(sampler.symbols)
    inputs = torch.cat([scenario_inputs(3, sampler.latent_dim, "high", k, seed=1),
                        scenario_inputs(3, sampler.latent_dim, "low", k, seed=2, volatility=np.full(k, 0.01))])
    program = torch.export.export(sampler, (inputs,))
    with torch.no_grad():
        assert_allclose(program.module()(inputs).numpy(), sampler(inputs).numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n_factors", [0, 1])  # dense (Ledoit-Wolf, Cholesky) and factor form (1 factor + diagonal)
def test_regime_vol_prior_is_a_lognormal_fitted_per_regime(n_factors):
    rng = np.random.default_rng(0)
    regime = np.repeat([0, 1, 2], 400)
    common = rng.normal(size=(1200, 1))  # one factor: volatilities move together
    log_sigma = np.log([0.005, 0.01, 0.03])[regime][:, None] + 0.3 * common + 0.1 * rng.normal(size=(1200, 4))
    prior = RegimeVolPrior.fit(np.exp(log_sigma), regime, n_factors=n_factors)
    assert prior.noise_dim == 4 + n_factors and ("chol" in prior.state_dict()) == (n_factors == 0)
    for c in range(3):
        assert_allclose(prior.loc[c].numpy(), log_sigma[regime == c].mean(axis=0), rtol=1e-5)
    condition = torch.eye(3).repeat_interleave(50_000, dim=0)
    noise = torch.randn(150_000, prior.noise_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        drawn = np.log(prior(noise, condition).numpy())
    for c in range(3):
        block = drawn[c * 50_000:(c + 1) * 50_000]
        assert_allclose(block.mean(axis=0), log_sigma[regime == c].mean(axis=0), atol=0.01)
        corr = np.corrcoef(block, rowvar=False)[np.triu_indices(4, 1)]
        assert np.all(corr > 0.75)  # the common factor survives the shrinkage / the one-factor form
        if n_factors:  # the factor form keeps each series' sample variance on the diagonal
            assert_allclose(block.var(axis=0), log_sigma[regime == c].var(axis=0, ddof=1), rtol=0.03)


def test_dispersion_scale_solves_the_second_moment_equation_by_hand():
    rng = np.random.default_rng(0)
    n = 200_000
    log_sigma = np.log(0.01) + 0.4 * rng.normal(size=(n, 3))
    sigma = np.exp(log_sigma)
    shocks = rng.standard_t(6, size=(n, 3)) / np.sqrt(1.5)  # unit variance
    returns = np.column_stack([
        shocks[:, 0] * sigma[:, 0],  # independent of its volatility: full dispersion
        shocks[:, 1] * np.exp(np.log(0.01) + 0.4**2),  # a constant scale: the volatility draw adds nothing
        shocks[:, 2] * sigma[:, 2] * np.exp(0.1 * (log_sigma[:, 2] - np.log(0.01))),  # more dispersed than sigma
    ])
    loc, variance = log_sigma.mean(axis=0), log_sigma.var(axis=0)
    scale = dispersion_scale(returns, sigma, loc, variance)
    # by hand, with d = log sigma - log 0.01 ~ N(0, v = 0.16) and E[exp(a d)] = exp(a^2 v / 2): series 0 (r = e sigma)
    # s = 1; series 2 (r = x 0.01 exp(1.1 d), e = x exp(0.1 d)): s^2 v = (2.2^2 - 0.2^2) v / 4 = 1.2 v, s = sqrt(1.2)
    assert_allclose(scale[[0, 2]], [1.0, np.sqrt(1.2)], atol=0.02)
    assert scale[1] == 0.0  # e = r / sigma carries all the dispersion already: nothing left for the draw
    assert_allclose(dispersion_scale(returns, sigma, loc, variance, max_scale=1.05)[2], 1.05)
    flat = returns.copy()
    flat[:, 1] = 0.0  # no move at all in the regime: the moments are undefined, the fitted dispersion is kept
    assert dispersion_scale(flat, sigma, loc, variance)[1] == 1.0


def test_variance_matched_vol_prior_gives_the_real_return_variance(daily_features):
    rows, sigma = devolatilised_rows(daily_features, backfill=True)
    shocks = rows.returns / sigma
    matched = RegimeVolPrior.fit(sigma, rows.regime, rows.returns)
    full = RegimeVolPrior.fit(sigma, rows.regime)
    assert set(matched.dispersion) == {"low", "normal", "high"} and not full.dispersion
    assert all(0.0 < v < 1.0 for v in matched.dispersion.values())  # the bundled data: less dispersion than drawn
    n, k = 200_000, sigma.shape[1]
    for c, name in enumerate(["low", "normal", "high"]):
        days = rows.regime == c
        draw = np.random.default_rng(c).integers(0, days.sum(), n)
        condition = torch.zeros(n, 3)
        condition[:, c] = 1.0
        noise = torch.randn(n, k, generator=torch.Generator().manual_seed(c))
        real_moment = np.mean(rows.returns[days] ** 2, axis=0)
        with torch.no_grad():
            ratios = {prior_name: np.mean((shocks[days][draw] * prior(noise, condition).double().numpy()) ** 2, axis=0)
                      / real_moment for prior_name, prior in (("matched", matched), ("full", full))}
        scale = matched.chol[c].diagonal() / full.chol[c].diagonal()
        inside = (scale > 0.05).numpy() & (scale < 1.45).numpy()  # not clipped: matched exactly, up to draws
        assert inside.sum() >= k // 2, name
        assert_allclose(ratios["matched"][inside], 1.0, atol=0.08), name
        assert ratios["full"].mean() > ratios["matched"].mean(), name  # independent draws overstate the variance


def test_moment_calibration_gives_each_regime_the_real_mean_and_covariance():
    rng = np.random.default_rng(0)
    k = 3
    real_cov = [np.eye(k), np.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 1.0]]),
                np.array([[2.0, 1.2, 0.9], [1.2, 1.5, 0.8], [0.9, 0.8, 1.0]])]  # stress: higher, more correlated
    real_mean = np.array([[0.0, 0.0, 0.0], [0.05, 0.0, -0.05], [-0.3, -0.2, 0.1]])
    regime = np.repeat([0, 1, 2], 4000)
    real = np.concatenate([rng.multivariate_normal(real_mean[c], real_cov[c], 4000) for c in range(3)])

    class IndependentCore(torch.nn.Module):  # a "generator" with the wrong moments: independent, unit scale
        def forward(self, noise: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
            return 0.5 + noise[:, :k] * (1.0 + condition[:, 2:3])

    core = IndependentCore()
    calibration, gaps = MomentCalibration.fit(core, k, real, regime, n=200_000, seed=1)
    assert gaps["moment_gap_high"] > 0.5  # the raw core was far from the data in the stress regime
    for c in range(3):
        observed = real[regime == c]
        condition = torch.zeros(200_000, 3)
        condition[:, c] = 1.0
        with torch.no_grad():
            out = calibration(core(torch.randn(200_000, k, generator=torch.Generator().manual_seed(2)), condition),
                              condition).double().numpy()
        assert_allclose(out.mean(axis=0), observed.mean(axis=0), atol=0.02)
        assert_allclose(np.cov(out, rowvar=False), ledoit_wolf(observed)[0], atol=0.02)  # the shrunk estimate
        assert_allclose(np.cov(out, rowvar=False), real_cov[c], atol=0.1)


def test_student_t_output_noise_has_heavier_joint_tails_and_its_exact_likelihood():
    k, df = 4, 5
    decoder = LocationScaleDecoder(ConditionalMLP(2, 2 * k, (8,)), latent_dim=2, df=df)
    gaussian = LocationScaleDecoder(decoder.decoder, latent_dim=2)
    with torch.no_grad():
        decoder.decoder.net[-1].weight.zero_()
        decoder.decoder.net[-1].bias.zero_()  # mean 0, scale 1: the output is the noise itself
    noise = torch.randn(200_000, decoder.noise_dim(k), generator=torch.Generator().manual_seed(0))
    condition = torch.eye(3)[torch.zeros(200_000, dtype=torch.int64)]
    with torch.no_grad():
        t, g = decoder(noise, condition).numpy(), gaussian(noise[:, : 2 + k], condition).numpy()
    assert np.all(excess_kurtosis(t) > 3.0) and np.all(np.abs(excess_kurtosis(g)) < 0.1)  # t5: 6, normal: 0
    assert_allclose(t.var(axis=0), df / (df - 2), rtol=0.05)
    assert np.corrcoef(t[:, 0] ** 2, t[:, 1] ** 2)[0, 1] > 0.1  # common mixing variable: joint large moves
    assert abs(np.corrcoef(g[:, 0] ** 2, g[:, 1] ** 2)[0, 1]) < 0.02
    x, mean, logvar = torch.randn(5, k), torch.randn(5, k), torch.randn(5, k)
    expected = [-multivariate_t(m, np.diag(np.exp(v)), df=df).logpdf(r)
                for r, m, v in zip(x.numpy(), mean.numpy(), logvar.numpy(), strict=True)]
    assert_allclose(decoder.negative_log_likelihood(x, mean, logvar).numpy(), expected, rtol=1e-5)


def test_plain_gan_generator_on_standardized_returns_maps_latent_to_returns(daily_features):
    result = train_gan(daily_features, tiny(GANConfig, location_scale=False, devolatilise=False), fast_dev_run=True)
    assert result.sampler.latent_dim == 4 and result.sampler.vol is None
    assert result.sampler.sample(7, "normal", seed=0).shape == (7, 28)
    rows = scenario_rows(daily_features, end=SHORT_END)
    assert_allclose(result.sampler.mean.numpy(), rows.returns.mean(axis=0), rtol=1e-5, atol=1e-9)


def test_sampling_100k_scenarios(dev_runs):
    for result in dev_runs.values():  # speed: see bench/models.py
        x = result.sampler.sample(100_000, "high", seed=0)
        assert x.shape == (100_000, 28) and np.isfinite(x).all()


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_same_seed_gives_identical_weights(daily_features, kind):
    train, cls = TRAINERS[kind]
    a, b = (train(daily_features, tiny(cls, seed=11)).sampler.state_dict() for _ in range(2))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    c = train(daily_features, tiny(cls, seed=12)).sampler.state_dict()
    assert any(not torch.equal(a[name], c[name]) for name in a)


def test_gan_uses_manual_optimization():
    assert GANModule(5, GANConfig.demo()).automatic_optimization is False


def test_training_window_ends_at_train_end(daily_features):
    end = pd.Timestamp(SHORT_END)
    data = ScenarioDataModule(daily_features, train_end=end)
    assert data.rows.dates.max() <= end and data.rows.dates.max() >= end - pd.Timedelta(days=7)
    later = scenario_rows(daily_features, start=end + pd.Timedelta(days=1))
    assert len(later) > 3000 and not set(later.dates) & set(data.rows.dates)
    assert_allclose(data.standardizer.mean, data.targets.mean(axis=0))  # fitted on training rows only
    assert_allclose(data.targets * data.sigma, data.rows.returns)  # targets: devolatilised shocks
    x, regime = next(iter(data.train_dataloader()))
    assert x.dtype == torch.float32 and regime.dtype == torch.int64 and x.shape == (128, 28)
    result = train_vae(daily_features, tiny(VAEConfig), fast_dev_run=True)
    assert result.train_end <= end and result.n_train == len(data.rows)
    assert_allclose(result.sampler.mean.numpy(), data.standardizer.mean, rtol=1e-5, atol=1e-9)
    fhs = FHSBootstrap.fit(daily_features, train_end=end, min_regime_rows=10)  # 17 low days keep a sigma
    assert fhs.dates.max() <= end


def test_too_little_data_or_bad_values_raise_input_error_before_training(daily_features):
    with pytest.raises(InputError, match="47 complete-day training rows"):
        train_gan(daily_features, tiny(GANConfig, train_end="2007-06-30"))
    with pytest.raises(InputError, match="too few training rows in regime low=31"):
        train_vae(daily_features, tiny(VAEConfig, min_regime_rows=50))
    with pytest.raises(InputError, match=r"regime low=17 \(2007-05-10\.\.2008-03-31\), at least 20 per regime"):
        FHSBootstrap.fit(daily_features, train_end="2008-03-31", min_rows=10)
    broken = daily_features.copy()
    broken.loc[(broken["symbol"] == "SPX") & (broken["date"] == pd.Timestamp("2008-10-15")), "ret"] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        train_gan(broken, tiny(GANConfig))
    no_spx = daily_features.copy()
    no_spx.loc[no_spx["symbol"] == "SPX", "ret"] = np.nan
    with pytest.raises(InputError, match="every series"):
        train_vae(no_spx, tiny(VAEConfig))


def test_exploding_vae_training_raises_computation_error(daily_features):
    with pytest.raises(ComputationError, match="train"):
        train_vae(daily_features, tiny(VAEConfig, lr=1e30, max_epochs=2))


def test_nan_batch_stops_gan_training_with_computation_error(daily_features):
    seed_everything(0)
    config = tiny(GANConfig)
    data = ScenarioDataModule(daily_features, train_end=SHORT_END, batch_size=config.batch_size)
    x, regime = data.dataset.tensors
    data.dataset = TensorDataset(torch.full_like(x, float("nan")), regime)
    with pytest.raises(ComputationError, match="GANModule: train_"):
        make_trainer(1, fast_dev_run=True).fit(GANModule(data.n_features, config), datamodule=data)


# ------------------------------------------------------------------------------------------------- FHS


def test_fhs_uses_the_previous_day_ewma_vol_and_keeps_joint_rows(daily_features):
    fhs = FHSBootstrap.fit(daily_features)
    spx = daily_features[daily_features["symbol"] == "SPX"].sort_values("date").reset_index(drop=True)
    i = int(spx.index[spx["date"] == pd.Timestamp("2020-03-16")][0])
    prev = previous_day_vol(daily_features)
    assert prev.at[spx.at[i, "date"], "SPX"] == spx.at[i - 1, "ewma_vol"]  # sigma_{t-1}: r_t not used
    t = int(np.flatnonzero(fhs.dates == pd.Timestamp("2020-03-16"))[0])
    col = fhs.symbols.index("SPX")
    assert fhs.sigma[t, col] == spx.at[i - 1, "ewma_vol"]
    assert_allclose(fhs.residuals[t, col] * fhs.sigma[t, col], spx.at[i, "ret"])
    rows = scenario_rows(daily_features)
    assert_allclose(fhs.residuals * fhs.sigma, rows.returns[np.isin(rows.dates, fhs.dates)])
    for regime in REGIME_INDEX:
        x = fhs.sample(500, regime, seed=2)
        assert x.shape == (500, len(fhs.symbols)) and np.isfinite(x).all()
    assert_allclose(fhs.sample(50, "high", seed=9), fhs.sample(50, "high", seed=9))
    high_vol, low_vol = (fhs.sample(20_000, r, seed=1).std(axis=0) for r in ("high", "low"))
    assert np.mean(high_vol > low_vol) > 0.9


def test_fhs_scenarios_are_a_regime_sigma_times_a_residual_row(daily_features):
    fhs = FHSBootstrap.fit(daily_features, train_end="2012-12-31", residuals_from="regime")
    x = fhs.sample(5, "high", seed=4)
    high = fhs.regime == REGIME_INDEX["high"]
    for row in x:
        ratio = row[None, :] / fhs.sigma[high]  # one sigma row of a high day turns it into a residual row
        hits = np.isclose(ratio[:, None, :], fhs.residuals[high][None, :, :], rtol=1e-9, atol=0).all(axis=2)
        assert hits.any()


# --------------------------------------------------------------------------------------------- quality


def test_hill_index_of_a_pareto_sample():
    rng = np.random.default_rng(0)
    losses = np.column_stack([rng.pareto(a, 40_000) + 1.0 for a in (2.0, 3.0, 4.0)])
    assert_allclose(hill_left_tail_index(-losses), [2.0, 3.0, 4.0], rtol=0.08)


def test_kurtosis_of_normal_sample_inside_interval_and_heavy_tails_outside():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(2000, 3))
    lo, hi = kurtosis_interval(real, seed=0)
    assert np.all(lo < 0) and np.all(hi > 0)
    assert np.all(np.abs(excess_kurtosis(rng.normal(size=(200_000, 3)))) < 0.05)
    t3 = rng.standard_t(3, size=(200_000, 3))
    assert np.all(excess_kurtosis(t3) > hi)


def test_tail_dependence_and_correlation_by_hand():
    rng = np.random.default_rng(2)
    a = rng.normal(size=20_000)
    assert lower_tail_dependence(a, 3 * a) == pytest.approx(1.0)
    assert lower_tail_dependence(a, rng.normal(size=20_000)) == pytest.approx(0.05, abs=0.015)
    x = np.column_stack([a, a, -a])
    assert average_pairwise_correlation(x) == pytest.approx(-1.0 / 3.0)


def test_disc_score_is_zero_for_identical_and_half_for_separable_samples():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(600, 4))
    assert abs(discriminative_score(real, real.copy())) <= 0.05
    assert discriminative_score(real, real + 5.0) >= 0.45


def test_portfolio_weights_follow_quote_types(instruments):
    symbols = ["SPX", "TLT", "UST10Y", "VIX", "EURUSD", "GOLD"]
    w = portfolio_weights(symbols, instruments)
    assert_allclose(w["equal_weight"], [0.25, 0.25, 0, 0, 0.25, 0.25])
    assert_allclose(w["60_40"], [0.6, 0.4, 0, 0, 0, 0])
    x = np.random.default_rng(0).normal(0, 0.01, size=(300, len(symbols)))
    both_equity = average_lower_tail_dependence(np.column_stack([x[:, 0], x[:, 0]]), ["SPX", "DAX"], instruments)
    assert both_equity == pytest.approx(1.0)


def test_generator_quality_of_the_real_sample_itself(daily_features, instruments):
    rows = scenario_rows(daily_features)
    real = rows.returns[rows.regime == REGIME_INDEX["high"]]
    q = generator_quality(real, real.copy(), rows.symbols, instruments, seed=0)
    assert all(isinstance(v, float) for v in q.values())
    for key in ("var99_rel_err_equal_weight", "es975_rel_err_equal_weight", "var99_rel_err_60_40",
                "es975_rel_err_60_40", "hill_mae", "corr_rmse"):
        assert q[key] == pytest.approx(0.0, abs=1e-12), key
    assert q["kurtosis_share_in_ci"] == 1.0 and q["tail_dep_gen"] == q["tail_dep_real"] > 0.2
    assert abs(q["disc_score"]) <= 0.08
    assert q["var99_real_equal_weight"] > 0  # losses positive
    for key in ("var99", "es975"):
        for book in ("equal_weight", "60_40"):
            assert q[f"{key}_real_lo_{book}"] < q[f"{key}_real_{book}"] < q[f"{key}_real_hi_{book}"], (key, book)
            assert q[f"{key}_gen_in_ci_{book}"] == 1.0
    doubled = generator_quality(real, 2.0 * real, rows.symbols, instruments, seed=0)  # twice the moves: outside
    assert doubled["es975_gen_in_ci_equal_weight"] == doubled["var99_gen_in_ci_60_40"] == 0.0
    short = generator_quality(real[:100], real[:100], rows.symbols, instruments, seed=0)  # 1 day beyond VaR99
    assert np.isnan([short["var99_real_lo_60_40"], short["var99_real_hi_60_40"], short["var99_gen_in_ci_60_40"]]).all()
    assert short["es975_gen_in_ci_60_40"] == 1.0  # 2.5 days beyond the 97.5% level: an interval
    with pytest.raises(InputError, match="NaN"):
        generator_quality(real, np.full_like(real, np.nan), rows.symbols, instruments)


def test_bootstrap_interval_of_a_mean_matches_normal_theory():
    x = np.random.default_rng(3).normal(0.0, 1.0, size=2000)
    lo, hi = bootstrap_interval(x, np.mean, n_boot=2000, seed=0)
    half = 1.959964 * x.std() / np.sqrt(len(x))  # the 95% interval of a mean, normal theory
    assert_allclose([lo, hi], [x.mean() - half, x.mean() + half], atol=0.1 * half)


@pytest.mark.slow  # 13 s: the benchmark's table; each metric in it is tested above on its own
def test_evaluate_generators_gives_a_side_by_side_table(daily_features, instruments, dev_runs):
    raw = copy.deepcopy(dev_runs["gan"].sampler)
    raw.calibration = None
    samplers = {"fhs": FHSBootstrap.fit(daily_features), "gan": dev_runs["gan"].sampler, "gan_raw": raw}
    table = evaluate_generators(daily_features, instruments, samplers, regime="high", n=3000)
    assert list(table.columns) == ["fhs", "gan", "gan_raw"] and "disc_score" in table.index
    assert table.loc["n_real", "fhs"] == float((scenario_rows(daily_features).regime == 2).sum())
    assert table.loc["disc_score", "fhs"] < table.loc["disc_score", "gan_raw"]  # an untrained GAN is obvious...
    assert table.loc["disc_score", "gan"] < table.loc["disc_score", "gan_raw"]  # ...less so with the real moments
    assert table.loc["corr_rmse", "gan"] < table.loc["corr_rmse", "gan_raw"]


@pytest.mark.slow  # the benchmark's own output (17 s); the metrics it prints are tested above
def test_bench_prints_the_generator_targets_with_signed_errors(daily_features, instruments, dev_runs):
    from bench.models import generator_targets

    samplers = {name: run.sampler for name, run in dev_runs.items()}
    targets = generator_targets(daily_features, instruments, samplers)
    table = evaluate_generators(daily_features, instruments, samplers, regime="high")
    assert set(targets) == set(samplers)
    for name, figures in targets.items():
        assert figures["disc_score"] == pytest.approx(table.at["disc_score", name], abs=5e-4)
        for key in ("var99_rel_err_equal_weight", "es975_rel_err_60_40"):
            assert abs(figures[key]) == pytest.approx(table.at[key, name], abs=1e-4)  # the asset's figure, signed
        assert figures["var99_in_ci_60_40"] in (0.0, 1.0)


def test_quality_metrics_a_universe_leaves_undefined_are_named_with_why(instruments):
    from risk_platform.models.reports import undefined_metrics

    assert undefined_metrics([], ["SPX", "TLT"], instruments) == []
    assert undefined_metrics(["stress_tail_dep_gen", "stress_tail_dep_real"], ["SPX", "TLT"], instruments) == [
        "not evaluable on this universe, not logged: stress_tail_dep_gen, stress_tail_dep_real (tail dependence"
        " needs two equity indices, found 1)"]


# ------------------------------------------------------------------------------- factor space (wide universes)

WIDE_SERIES, WIDE_FACTORS, WIDE_END = 80, 4, "2014-06-30"


def wide_config(config_cls, **overrides):
    """A tiny config in factor space: the synthetic 80 series are above the threshold, K = 4 factors."""
    return tiny(config_cls, **{"train_end": WIDE_END, "n_factors": WIDE_FACTORS, "residual_knots": 33, **overrides})


def synthetic_wide_daily(k: int = WIDE_SERIES, n_days: int = 1400, seed: int = 16) -> pd.DataFrame:
    """A synthetic ``daily_features`` frame (``date, symbol, ret, ewma_vol, vol_rank``) of k series over ``n_days``
    business days from 2010: four Student-t(5) factors with random loadings plus Student-t(6) own noise, times a
    per-series level times a common log-volatility (a 350-day cycle plus AR(1) noise, so the market regime moves
    through low, normal and high); ``ewma_vol`` is the EWMA(0.94) of the returns, ``vol_rank`` its expanding rank."""
    rng = np.random.default_rng(seed)
    noise = np.zeros(n_days)
    for t in range(1, n_days):
        noise[t] = 0.97 * noise[t - 1] + 0.05 * rng.normal()
    level = 0.6 * np.sin(2 * np.pi * np.arange(n_days) / 350) + noise
    loadings = rng.normal(0.0, 0.6, (k, WIDE_FACTORS))
    factors = rng.standard_t(5, (n_days, WIDE_FACTORS)) / np.sqrt(5 / 3)
    shocks = factors @ loadings.T + 0.7 * rng.standard_t(6, (n_days, k)) / np.sqrt(1.5)
    returns = 0.01 * np.exp(level)[:, None] * rng.uniform(0.5, 2.0, k) * shocks / shocks.std(axis=0)
    variance = np.empty_like(returns)
    variance[0] = returns[:20].var(axis=0)
    for t in range(1, n_days):
        variance[t] = 0.94 * variance[t - 1] + 0.06 * returns[t] ** 2
    dates = pd.bdate_range("2010-01-04", periods=n_days)
    frames = [pd.DataFrame({"date": dates, "symbol": f"S{i:03d}", "ret": returns[:, i],
                            "ewma_vol": np.sqrt(variance[:, i]), "vol_rank": volatility_rank(np.sqrt(variance[:, i]))})
              for i in range(k)]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def wide_daily() -> pd.DataFrame:
    return synthetic_wide_daily()


@pytest.fixture(scope="module")
def wide_runs(wide_daily):
    """fast_dev_run of each generator in factor space on the synthetic wide panel."""
    return {kind: train(wide_daily, wide_config(cls), fast_dev_run=True) for kind, (train, cls) in TRAINERS.items()}


def test_factor_space_starts_above_the_threshold():
    config = GANConfig.demo()
    assert config.factors_for(28) == 0 and config.factors_for(64) == 0  # the bundled universe: the series
    assert config.factors_for(65) == 16 and config.factors_for(500) == 16 and config.factors_for(1000) == 16
    assert GANConfig.demo(factor_space_above=20).factors_for(40) == 10  # K <= k / 4
    assert VAEConfig.demo(n_factors=4).factors_for(WIDE_SERIES) == 4


def test_factor_model_is_the_pca_of_the_training_rows_only(wide_daily):
    data = ScenarioDataModule(wide_daily, train_end=WIDE_END, n_factors=WIDE_FACTORS, residual_knots=33)
    assert data.rows.dates.max() <= pd.Timestamp(WIDE_END) and data.n_features == WIDE_FACTORS
    x = data.standardizer.transform(data.targets)  # the training rows' standardized shocks
    pca = PCA(WIDE_FACTORS).fit(x)  # the reference library: the same loadings, up to sign
    loadings = data.factors.loadings.double().numpy()
    expected = pca.components_.T * np.sqrt(pca.explained_variance_)
    assert_allclose(np.abs(loadings), np.abs(expected), rtol=1e-3, atol=1e-4)
    assert_allclose(loadings.T @ loadings, np.diag(pca.explained_variance_), rtol=1e-3, atol=1e-6)
    scores = data.model_targets  # what the networks learn: unit-variance, uncorrelated factor scores
    assert scores.shape == (len(data.rows), WIDE_FACTORS) and data.dataset.tensors[0].shape == scores.shape
    assert_allclose(np.cov(scores, rowvar=False), np.eye(WIDE_FACTORS), atol=1e-6)
    assert data.factors.explained_share() == pytest.approx(pca.explained_variance_.sum() / WIDE_SERIES, rel=1e-3)
    residuals = x - scores @ loadings.T
    table = data.factors.residual_quantiles.double().numpy()
    assert np.all(np.diff(table, axis=1) >= 0)
    assert data.factors.z_max.item() == pytest.approx(norm.ppf(1 - 0.5 / len(data.rows)), rel=1e-6)  # m rows
    assert np.all(table[:, 0] >= residuals.min(axis=0) - 1e-6) and np.all(table[:, -1] <= residuals.max(axis=0) + 1e-6)
    assert_allclose(table[:, 16], np.median(residuals, axis=0), atol=1e-5)  # the middle knot: the median
    # point in time: rows after train_end, however wild, change nothing that is fitted
    later = wide_daily["date"] > pd.Timestamp(WIDE_END)
    wild = wide_daily.assign(ret=np.where(later, 5.0 * wide_daily["ret"] + 0.02, wide_daily["ret"]))
    again = ScenarioDataModule(wild, train_end=WIDE_END, n_factors=WIDE_FACTORS, residual_knots=33)
    for name, buffer in data.factors.state_dict().items():
        assert torch.equal(buffer, again.factors.state_dict()[name]), name
    assert_allclose(again.standardizer.mean, data.standardizer.mean)


def test_residuals_are_each_series_quantiles_read_at_a_normal_score():
    rng = np.random.default_rng(0)
    x = rng.standard_t(4, size=(3000, 12))
    x = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    model, _ = FactorModel.fit(x, 2, 17)
    noise = torch.randn(5000, 12, generator=torch.Generator().manual_seed(1))
    knots = np.linspace(-model.z_max.item(), model.z_max.item(), 17)
    expected = np.column_stack([np.interp(noise[:, i].numpy(), knots, model.residual_quantiles[i].numpy())
                                for i in range(12)])  # np.interp clamps at the ends, as the sampler does
    assert_allclose(model.residual(noise).numpy(), expected, atol=1e-4)
    assert_allclose(principal_factors(x[:1, :], 3), 0.0)  # fewer rows than factors: zero columns, no error


@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_factor_space_sampler_round_trips_and_holds_no_k_by_k_array(wide_runs, kind, tmp_path):
    result = wide_runs[kind]
    sampler, k = result.sampler, WIDE_SERIES
    assert sampler.n_factors == WIDE_FACTORS and result.metrics["n_factors"] == WIDE_FACTORS
    assert 0.2 < result.metrics["factor_variance_share"] < 1.0 and result.metrics["stopped_by_time_budget"] == 0.0
    assert sampler.core_dim == 4 + WIDE_FACTORS + 5  # [z, eps (K), chi (df)]: the networks see K factors
    assert sampler.latent_dim == sampler.core_dim + k + (WIDE_FACTORS + k)  # then residuals, then volatility state
    state = sampler.state_dict()
    assert state["factors.loadings"].shape == (k, WIDE_FACTORS) and state["calibration.weight"].shape == (3, 4, 4)
    assert state["vol.loadings"].shape == (3, k, WIDE_FACTORS) and "vol.chol" not in state
    assert all(list(t.shape).count(k) < 2 for t in state.values())  # memory O(k K): no k x k array anywhere
    x = sampler.sample(300, "high", seed=2)
    assert x.shape == (300, k) and np.isfinite(x).all()
    fresh = build_sampler(result.config, result.symbols)
    fresh.load_state_dict(state)
    assert_allclose(fresh.sample(64, "low", seed=5), sampler.sample(64, "low", seed=5))
    # the persisted form: a torch.export program with a dynamic batch, as MLflow saves it (weights and arrays)
    example = torch.cat([scenario_inputs(1, sampler.latent_dim, "high", k, seed=0),
                         scenario_inputs(1, sampler.latent_dim, "high", k, seed=1, volatility=np.full(k, 0.01))])
    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(sampler, (example,), dynamic_shapes=({0: torch.export.Dim.AUTO},)), path)
    loaded = torch.export.load(str(path)).module()
    many = scenario_inputs(500, sampler.latent_dim, "normal", k, seed=3, volatility=np.full(k, 0.02))
    with torch.no_grad():
        assert_allclose(loaded(many).numpy(), sampler(many).numpy(), rtol=1e-5, atol=1e-8)


def test_factor_space_scenarios_have_the_factor_models_covariance(wide_runs, wide_daily):
    result = wide_runs["gan"]
    sampler = result.sampler
    data = ScenarioDataModule(wide_daily, train_end=WIDE_END, n_factors=WIDE_FACTORS, residual_knots=33)
    loadings = sampler.factors.loadings.double().numpy()
    residuals = data.standardizer.transform(data.targets) - data.model_targets @ loadings.T
    std = sampler.std.double().numpy()
    n = 100_000
    for regime, c in REGIME_INDEX.items():
        factors = data.model_targets[data.rows.regime == c]
        covariance = loadings @ ledoit_wolf(factors)[0] @ loadings.T + np.diag(residuals.var(axis=0))
        expected = covariance * np.outer(std, std)  # unit volatility: shocks in original units
        mean = (loadings @ factors.mean(axis=0)) * std + sampler.mean.double().numpy()
        drawn = sampler.sample(n, regime, seed=c, volatility=np.ones(WIDE_SERIES))
        gap = np.linalg.norm(np.cov(drawn, rowvar=False) - expected) / np.linalg.norm(expected)
        assert gap < 0.04, regime  # 1.5-2.5% measured; the diagonal alone (no factors) is 95% away
        assert_allclose(drawn.mean(axis=0), mean, atol=0.03)


def test_factor_space_registers_and_samples_through_the_registry(wide_runs, wide_daily, tmp_path):
    from risk_platform.models.inference import generated
    from risk_platform.models.registry import LINEAGE_TAGS, ModelRegistry
    from risk_platform.models.reports import generator_registration

    result = wide_runs["vae"]
    instruments = pd.DataFrame({"symbol": result.symbols, "name": result.symbols, "asset_class": "equity",
                                "quote_type": "index_level", "currency": "USD", "region": "US"})
    folder = tmp_path / "report"
    folder.mkdir()
    registration = generator_registration("vae", result, wide_daily, instruments, folder, n=2000)
    assert registration.metadata["n_factors"] == WIDE_FACTORS and registration.params["n_factors"] == WIDE_FACTORS
    assert np.isfinite(registration.metrics["stress_tail_dep_gen"])  # tail figures still reported at scale
    registry = ModelRegistry(f"sqlite:///{tmp_path}/mlflow.db", artifact_root=str(tmp_path / "artifacts"))
    version = registry.log_training(model_key="vae_scenarios", registration=registration,
                                    tags={tag: "test" for tag in LINEAGE_TAGS}, dataset=wide_daily.head(100),
                                    dataset_name="daily_features")
    loaded = registry.load("vae_scenarios", version=version.version)
    assert loaded.metadata["n_factors"] == WIDE_FACTORS
    today = np.full(WIDE_SERIES, 0.01)
    assert_allclose(generated(loaded, "high", 2000, seed=4, volatility=today),
                    result.sampler.sample(2000, "high", seed=4, volatility=today), rtol=1e-5, atol=1e-9)
    assert_allclose(generated(loaded, "low", 2000, seed=5), result.sampler.sample(2000, "low", seed=5),
                    rtol=1e-5, atol=1e-9)


def test_training_time_budget_stops_training_and_is_recorded(daily_features):
    result = train_gan(daily_features, tiny(GANConfig, max_epochs=10_000, max_train_seconds=1.0))
    assert result.metrics["stopped_by_time_budget"] == 1.0 and result.metrics["epochs"] < 10_000
    assert result.metrics["train_seconds"] < 30.0 and result.metrics["n_factors"] == 0.0
    assert np.isfinite(result.sampler.sample(10, "high", seed=0)).all()
    assert GANConfig.demo().max_train_seconds == VAEConfig.demo().max_train_seconds == 300.0
    assert GANConfig.full().max_train_seconds > GANConfig.demo().max_train_seconds


def test_quality_figures_at_scale_equal_their_definitions(instruments):
    rng = np.random.default_rng(5)
    x = rng.standard_t(5, size=(2000, 30)) + rng.normal(size=(2000, 1))  # a common factor
    x[:, 3] = 0.0  # a constant column: undefined correlations, left out
    corr = np.corrcoef(x, rowvar=False)
    with np.errstate(invalid="ignore"):
        expected = np.nanmean(corr[np.triu_indices(30, k=1)])
    assert average_pairwise_correlation(x) == pytest.approx(expected, rel=1e-10)
    y = x + rng.normal(scale=0.5, size=x.shape)
    columns = series_sample(30, 12)
    assert len(columns) == 12 and np.all(np.diff(columns) > 0) and np.array_equal(columns, series_sample(30, 12))
    assert correlation_rmse(x, y, most=12) == pytest.approx(correlation_rmse(x[:, columns], y[:, columns]))
    assert correlation_rmse(x, y) == correlation_rmse(x, y, most=30)  # fewer series than the cap: every pair
    symbols = [f"E{i}" for i in range(30)]
    equities = pd.DataFrame({"symbol": symbols, "asset_class": "equity", "quote_type": "index_level"})
    pairs = [(i, j) for i in columns for j in columns if i < j]
    by_pair = np.mean([lower_tail_dependence(x[:, i], x[:, j]) for i, j in pairs])
    assert average_lower_tail_dependence(x, symbols, equities, most=12) == pytest.approx(by_pair, rel=1e-12)
    assert kurtosis_interval(x[:300]) == pytest.approx(bootstrap_interval(x[:300], excess_kurtosis), rel=1e-9,
                                                       nan_ok=True)  # the same resamples, moments from counts
    assert discriminative_score(x[:400], y[:400], most=12) == discriminative_score(x[:400, columns], y[:400, columns])
