"""GNN dynamic-correlation model: validity of every output, point-in-time splits, baselines, training plumbing."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from risk_platform.errors import ComputationError, InputError
from risk_platform.models import gnn
from risk_platform.models.datasets import complete_days, wide_feature
from risk_platform.risk.measures import ewma_covariance

TINY = gnn.GNNConfig.demo(train_end="2012-06-30", val_start="2012-01-01", test_start="2012-07-01", train_stride=10,
                          test_stride=10, min_train_graphs=10, hidden=8, heads=1, node_id_dim=2,
                          max_epochs=2, batch_size=16, lr=1e-2)


def assert_valid_correlation(c: np.ndarray, tol: float = 1e-6) -> None:
    """(..., n, n): finite, symmetric, unit diagonal, positive semi-definite."""
    c = np.asarray(c, dtype=float)
    assert np.isfinite(c).all()
    np.testing.assert_allclose(c, np.swapaxes(c, -1, -2), atol=tol)
    np.testing.assert_allclose(np.diagonal(c, axis1=-2, axis2=-1), 1.0, atol=tol)
    assert np.linalg.eigvalsh(c).min() >= -tol


@pytest.fixture(scope="module")
def small_daily(daily_features) -> pd.DataFrame:
    return daily_features[daily_features["date"] <= "2013-12-31"].reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny_data(small_daily, instruments) -> gnn.GraphData:
    return gnn.build_graph_data(small_daily, instruments, TINY)


@pytest.fixture(scope="module")
def dev_result(daily_features, instruments) -> gnn.GNNResult:
    return gnn.train_gnn_corr(daily_features, instruments, gnn.GNNConfig.demo(), fast_dev_run=True)


def test_fast_dev_run_on_the_bundled_data(dev_result):
    result = dev_result
    assert len(result.symbols) == 28 and result.n_train > 300
    assert result.train_start >= pd.Timestamp("2008-01-01") and result.train_end < pd.Timestamp("2020-01-01")
    assert (result.config.train_end, result.config.val_start, result.config.test_start) == (
        "2021-12-30", "2019-12-31", "2021-12-31")  # counted back from the last complete day, 2024-12-30
    assert len(result.history["train_loss"]) == 1
    for name in ("frobenius_gnn", "frobenius_sample63", "frobenius_ewma", "ratio_gnn_to_sample63",
                 "ratio_gnn_to_ewma"):
        assert np.isfinite(result.metrics[name]) and result.metrics[name] > 0
    assert result.metrics["n_test"] > 600


def test_forecast_latest_date_matches_batch_prediction_and_is_fast(dev_result, daily_features, instruments):
    config = dev_result.config
    frame = dev_result.forecast(daily_features)
    assert list(frame.index) == list(frame.columns) == list(dev_result.symbols)
    assert_valid_correlation(frame.to_numpy())
    as_of = frame.attrs["as_of"]
    assert as_of == complete_days(wide_feature(daily_features, "ret")).index[-1]

    # the single-tensor path and the batched graph path give the same forecast for the same date
    data = gnn.build_graph_data(daily_features, instruments, config)
    t = data.test.dates[-1]
    batch = gnn.predict(dev_result.model, data.test)[-1]
    single = dev_result.forecast(daily_features[daily_features["date"] <= t])
    assert single.attrs["as_of"] == t
    np.testing.assert_allclose(single.to_numpy(), batch, atol=1e-5)

    _, inputs = gnn.forecaster_input(daily_features, dev_result.symbols, config)
    n, f = len(dev_result.symbols), len(gnn.feature_names(config.n_lags))
    assert tuple(inputs.shape) == (n, f + (len(config.corr_windows) + 1) * n)  # trailing windows, then EWMA
    with torch.no_grad():
        assert tuple(dev_result.forecaster()(inputs).shape) == (n, n)  # speed: see bench/models.py


@pytest.mark.parametrize("seed", range(40))
def test_output_is_a_valid_correlation_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    n, f, k, b = int(rng.integers(2, 12)), int(rng.integers(1, 8)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    model = gnn.GNNCorrelation(n, f, 3, n_components=k, hidden=8, heads=2, top_k=int(rng.integers(0, 5)),
                               static_per_node=int(rng.integers(0, 3)), class_codes=rng.integers(0, 3, n),
                               region_codes=rng.integers(0, 4, n), feature_mean=rng.normal(size=(n, f)),
                               feature_std=rng.uniform(0.1, 3, (n, f))).eval()
    with torch.no_grad():
        for p in model.parameters():  # away from the zero initialisation of the output layers
            p.add_(torch.randn_like(p) * float(rng.uniform(0.1, 3.0)))
    x = torch.as_tensor(rng.normal(scale=rng.uniform(0.1, 50), size=(b * n, f)), dtype=torch.float32)
    corr = torch.as_tensor(rng.uniform(-1.5, 1.5, size=(b, k, n, n)), dtype=torch.float32)  # not even symmetric
    if seed % 3 == 0:
        corr[0, 0, 0, -1] = float("nan")
    n_edges = int(rng.integers(0, 3 * b * n))
    edge_index = torch.as_tensor(rng.integers(0, b * n, size=(2, n_edges)), dtype=torch.long)
    edge_attr = torch.as_tensor(rng.normal(size=(n_edges, len(gnn.EDGE_ATTRS))), dtype=torch.float32)
    node_ids = torch.arange(n).repeat(b)
    summaries = torch.as_tensor(rng.normal(size=(b * n, len(gnn.SUMMARY_FEATURES))), dtype=torch.float32)
    with torch.no_grad():
        out = model(x, node_ids, summaries, edge_index, edge_attr, corr)
    assert out.shape == (b, n, n) and out.dtype == torch.float32
    assert_valid_correlation(out.numpy())

    # the serving wrapper, with edges rebuilt inside from a random (unrepaired) correlation
    inputs = torch.cat([x[:n], corr[0].transpose(0, 1).reshape(n, k * n)], dim=1)
    with torch.no_grad():
        assert_valid_correlation(gnn.CorrelationForecaster(model)(inputs).numpy())


def test_trailing_correlation_repair_is_valid():
    rng = np.random.default_rng(0)
    raw = torch.as_tensor(rng.uniform(-1, 1, size=(20, 6, 6)))
    assert_valid_correlation(gnn.valid_correlation(raw).numpy())
    good = torch.as_tensor(np.corrcoef(rng.normal(size=(6, 50))))
    np.testing.assert_allclose(gnn.valid_correlation(good).numpy(), good.numpy(), atol=1e-12)


def test_same_seed_same_weights(tiny_data):
    config = replace(TINY, val_start=None)  # no epoch selection: the weights after the last epoch
    data = replace(tiny_data, val=None)
    first, second = (gnn.train_on_graphs(data, config) for _ in range(2))
    assert len(first.history["train_loss"]) == config.max_epochs
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
    assert not torch.equal(a["mix.weight"], torch.zeros_like(a["mix.weight"]))  # it did train
    assert first.metrics["frobenius_gnn"] == second.metrics["frobenius_gnn"]


def untrained_construction(graphs: gnn.GraphSet, ridge: float) -> np.ndarray:
    """The equal-weight blend of the repaired components (trailing windows, then EWMA), with the ridge."""
    blend = gnn.valid_correlation(torch.as_tensor(gnn.components(graphs))).numpy().mean(axis=1)
    eye = np.eye(blend.shape[-1])
    return ((1 - ridge) * blend + ridge * eye) * (1 - eye) + eye


def test_untrained_output_is_the_target_construction(tiny_data):
    test = tiny_data.test
    parts = gnn.components(test)
    assert parts.shape[1] == len(TINY.corr_windows) + 1
    np.testing.assert_array_equal(parts[:, :-1], test.corr)
    np.testing.assert_array_equal(parts[:, -1], test.ewma)
    n, n_features = test.x.shape[1:]
    rng = np.random.default_rng(3)
    torch.manual_seed(3)
    model = gnn.GNNCorrelation.from_config(TINY, n, n_features, 4, class_codes=rng.integers(0, 4, n),
                                           region_codes=rng.integers(0, 3, n),
                                           feature_std=rng.uniform(0.5, 2.0, (n, n_features)))
    np.testing.assert_allclose(gnn.predict(model, test), untrained_construction(test, TINY.ridge), atol=1e-5)


def test_short_training_on_real_data_learns(tiny_data):
    """Seeded: validation selects a trained epoch whose loss is below the untrained model's, and the reported
    untrained score is that of the target construction."""
    result = gnn.train_on_graphs(tiny_data, TINY)
    val = result.history["val_loss"]
    assert len(val) == TINY.max_epochs + 1  # before training, then after every epoch
    assert result.metrics["best_epoch"] == int(np.argmin(val)) >= 1
    assert min(val[1:]) < val[0]
    assert result.metrics["n_val"] == len(tiny_data.val.dates) > 0
    untrained = untrained_construction(tiny_data.test, TINY.ridge)
    expected = np.linalg.norm(untrained - tiny_data.test.target, axis=(-2, -1)).mean()
    assert result.metrics["frobenius_untrained"] == pytest.approx(expected, rel=1e-5)
    assert result.metrics["frobenius_gnn"] != result.metrics["frobenius_untrained"]


def test_no_training_target_uses_returns_after_train_end(tiny_data, small_daily, instruments):
    train_end, val_start = pd.Timestamp(TINY.train_end), pd.Timestamp(TINY.val_start)
    assert (tiny_data.train.target_end < val_start).all()
    assert (tiny_data.val.target_end <= train_end).all() and (tiny_data.val.dates >= val_start).all()
    assert (tiny_data.test.dates >= pd.Timestamp(TINY.test_start)).all()
    # the last fitted / validation graphs are as late as the rule allows (counted back from the last eligible)
    assert tiny_data.val.target_end[-1] > train_end - pd.Timedelta(days=30)

    # scramble every value after train_end: the fit and validation graphs do not change at all
    rng = np.random.default_rng(1)
    after = small_daily["date"] > train_end
    scrambled = small_daily.copy()
    for column in ("ret", "ewma_vol", "rv_21", "rv_63", "vol_rank", "drawdown"):
        scrambled.loc[after, column] = rng.uniform(0.001, 1.0, int(after.sum()))
    other = gnn.build_graph_data(scrambled, instruments, TINY)
    for name in ("train", "val"):
        mine, theirs = getattr(tiny_data, name), getattr(other, name)
        assert mine.dates.equals(theirs.dates)
        for field in ("x", "neighbours", "summaries", "corr", "target", "ewma"):
            np.testing.assert_array_equal(getattr(mine, field), getattr(theirs, field))
    assert not np.allclose(tiny_data.test.target, other.test.target)


def test_graph_features_and_edges(tiny_data):
    train = tiny_data.train
    n, k = len(tiny_data.symbols), TINY.top_k
    assert train.x.shape[1:] == (n, len(gnn.feature_names(TINY.n_lags)))
    assert train.corr.shape[1:] == (len(TINY.corr_windows), n, n)
    assert train.neighbours.shape[1:] == (n, k) and train.summaries.shape[1:] == (n, len(gnn.SUMMARY_FEATURES))
    assert_valid_correlation(train.target)
    classes = np.unique(tiny_data.asset_classes, return_inverse=True)[1]
    regions = np.unique(tiny_data.regions, return_inverse=True)[1]
    model = gnn.GNNCorrelation(n, train.x.shape[2], int(classes.max()) + 1, class_codes=classes,
                               region_codes=regions, top_k=k, static_per_node=TINY.static_per_node)
    c = train.corr[0, 0]
    summaries, edge_index, edge_attr = model.whole_graph(torch.as_tensor(c, dtype=torch.float32))
    src, dst = edge_index.numpy()
    assert (src != dst).all()
    assert len(src) <= 2 * n * k + 2 * n * TINY.static_per_node  # O(n k), not O(n^2)
    dynamic = edge_attr[:, 1].numpy() == 1
    assert dynamic.sum() == 2 * n * k
    # node i's dynamic in-edges from its neighbour list are its k largest |corr| (by hand)
    off = np.abs(c) - 2 * np.eye(n)
    for i in (0, n // 2, n - 1):
        hand = set(np.argsort(-off[i], kind="stable")[:k])
        assert set(src[:n * k][dst[:n * k] == i]) == hand
    static = ~dynamic
    assert ((classes[src[static]] == classes[dst[static]]) | (regions[src[static]] == regions[dst[static]])).all()
    np.testing.assert_allclose(edge_attr[:, 0].numpy(), c[src, dst], atol=1e-6)
    np.testing.assert_array_equal(edge_attr[:, 2].numpy(), classes[src] == classes[dst])
    # summaries by hand: mean |corr| to the neighbours, mean corr, loading on the first principal component
    values, vectors = np.linalg.eigh(c)
    pc1 = vectors[:, -1] * np.sign(vectors[:, -1].sum()) * np.sqrt(values[-1])
    hand = np.stack([np.sort(off, axis=1)[:, -k:].mean(axis=1), (c.sum(axis=1) - 1) / (n - 1), pc1], axis=1)
    np.testing.assert_allclose(summaries.numpy(), hand, atol=1e-4)
    np.testing.assert_allclose(train.summaries[0], hand, atol=1e-4)


def test_baselines_on_a_hand_example():
    x = np.array([0.01, -0.02, 0.03, 0.00, -0.01, 0.02])
    returns = np.column_stack([x, 2 * x, -x, np.zeros_like(x)])
    expected = np.array([[1, 1, -1, 0], [1, 1, -1, 0], [-1, -1, 1, 0], [0, 0, 0, 1]], dtype=float)
    np.testing.assert_allclose(gnn.sample_correlation(returns), expected, atol=1e-12)
    np.testing.assert_allclose(gnn.ewma_correlation(returns), expected, atol=1e-12)

    realized = np.eye(2)[None]
    sample = np.array([[[1, 0.5], [0.5, 1]]])
    ewma = np.array([[[1, -0.25], [-0.25, 1]]])
    scores = gnn.score_correlation(realized, realized.copy(), sample, ewma)
    assert scores["frobenius_gnn"] == 0.0 and scores["ratio_gnn_to_sample63"] == 0.0
    assert scores["frobenius_sample63"] == pytest.approx(np.sqrt(2 * 0.25))
    assert scores["frobenius_ewma"] == pytest.approx(np.sqrt(2 * 0.0625))


def test_baselines_match_direct_computation_on_real_dates(tiny_data, small_daily):
    returns = complete_days(wide_feature(small_daily, "ret"))[list(tiny_data.symbols)]
    test = tiny_data.test
    for i in (0, len(test.dates) - 1):
        k = returns.index.get_loc(test.dates[i])
        window = returns.iloc[k - 62:k + 1].to_numpy()
        np.testing.assert_allclose(test.corr[i, 0], np.corrcoef(window.T), atol=1e-10)
        cov = ewma_covariance(returns.iloc[k - TINY.ewma_window + 1:k + 1].to_numpy())
        np.testing.assert_allclose(test.ewma[i], cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov))), atol=1e-10)
        future = returns.iloc[k + 1:k + 1 + TINY.horizon]
        assert future.index[-1] == test.target_end[i]
        np.testing.assert_allclose(test.target[i], np.corrcoef(future.to_numpy().T), atol=1e-10)


def test_bad_input_raises_before_training(tiny_data, small_daily, instruments):
    bad = small_daily.copy()
    bad.loc[(bad["symbol"] == "SPX") & (bad["date"] == tiny_data.train.dates[5]), "ewma_vol"] = np.nan
    with pytest.raises(InputError, match="NaN"):
        gnn.train_gnn_corr(bad, instruments, TINY)
    short = small_daily[small_daily["date"] <= "2008-09-30"]
    with pytest.raises(InputError, match="too little history"):
        gnn.train_gnn_corr(short, instruments, TINY)
    with pytest.raises(InputError, match="no test date"):
        gnn.build_graph_data(small_daily, instruments, replace(TINY, test_start="2014-01-01"))
    with pytest.raises(InputError, match="no row for SPX"):
        gnn.build_graph_data(small_daily, instruments[instruments["symbol"] != "SPX"], TINY)
    with pytest.raises(InputError, match="missing columns"):
        gnn.build_graph_data(small_daily.drop(columns="rv_63"), instruments, TINY)
    with pytest.raises(InputError, match="invalid values"):
        gnn.GNNConfig.demo(top_k=-1)
    with pytest.raises(InputError, match="lacks node features"):
        gnn.forecaster_input(small_daily[small_daily["date"] <= "2007-12-31"], sorted(small_daily["symbol"].unique()),
                             TINY)


def test_nan_loss_stops_training(tiny_data, monkeypatch):
    monkeypatch.setattr(gnn, "correlation_loss", lambda forecast, target: forecast.sum() * float("nan"))
    with pytest.raises(ComputationError, match="train_loss"):
        gnn.train_on_graphs(tiny_data, TINY, fast_dev_run=True)


def test_the_split_moves_with_the_data_and_a_history_too_short_to_hold_out_is_refused(daily_features):
    config = gnn.GNNConfig.demo()
    earlier = gnn.with_dates(daily_features[daily_features["date"] <= "2023-06-30"], config)
    assert (earlier.train_end, earlier.val_start, earlier.test_start) == ("2020-06-30", "2018-07-01", "2020-07-01")
    no_val = gnn.with_dates(daily_features, replace(config, val_years=0))
    assert no_val.val_start is None and no_val.train_end == "2021-12-30"
    given = gnn.with_dates(daily_features, replace(config, train_end="2015-12-31"))
    assert (given.val_start, given.test_start) == (None, "2016-01-01")
    two_years = daily_features[daily_features["date"] >= "2023-01-01"]
    with pytest.raises(InputError, match="GNN: history 2023-01-04..2024-12-30 too short to hold out: 438 dates"):
        gnn.with_dates(two_years, config)


# ------------------------------------------------------------------ scale: a synthetic 60-series panel

WIDE = gnn.GNNConfig.demo(corr_windows=(63, 126), ewma_window=126, train_end="2017-03-31", val_start="2016-10-01",
                          test_start="2017-04-01", min_train_graphs=10, top_k=5, subgraph_nodes=16, hidden=8,
                          heads=1, node_id_dim=2, max_epochs=2, batch_size=8)


@pytest.fixture(scope="module")
def wide_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """60 series, 4 asset classes x 3 regions, class factors + a market factor + noise, 800 business days,
    with the ``daily_features`` columns the GNN reads (rolling figures: point in time)."""
    rng = np.random.default_rng(16)
    n, days = 60, pd.bdate_range("2015-01-01", periods=800)
    classes, regions = np.arange(n) % 4, np.arange(n) % 3
    factors = rng.normal(scale=0.01, size=(len(days), 5))
    returns = pd.DataFrame(0.6 * factors[:, [0]] + 0.8 * factors[:, 1 + classes]
                           + rng.normal(scale=0.01, size=(len(days), n)), index=days,
                           columns=[f"S{i:02d}" for i in range(n)])
    frames = {"ret": returns, "ewma_vol": np.sqrt((returns**2).ewm(alpha=0.06).mean()),
              "rv_21": returns.rolling(21).std(), "rv_63": returns.rolling(63).std()}
    frames["vol_rank"] = frames["ewma_vol"].rolling(63).rank(pct=True)
    level = returns.cumsum()
    frames["drawdown"] = level - level.cummax()
    daily = pd.concat({name: frame.stack() for name, frame in frames.items()}, axis=1)
    daily = daily.rename_axis(["date", "symbol"]).reset_index()
    instruments = pd.DataFrame({"symbol": returns.columns, "asset_class": np.array(list("ABCD"))[classes],
                                "region": np.array(["US", "EU", "JP"])[regions]})
    return daily, instruments


def test_sparse_graph_and_sampled_subgraphs(wide_panel):
    daily, instruments = wide_panel
    data = gnn.build_graph_data(daily, instruments, WIDE)
    n, k = 60, WIDE.top_k
    model = gnn.GNNCorrelation.from_config(WIDE, n, data.train.x.shape[2], 4,
                                           class_codes=np.unique(data.asset_classes, return_inverse=True)[1],
                                           region_codes=np.unique(data.regions, return_inverse=True)[1])
    whole = gnn.GraphDataset(data.train, model)[0]
    assert whole.edge_index.shape[1] <= 2 * n * (k + 2 * WIDE.static_per_node) < n * (n - 1) // 2  # O(n k)
    sampled = gnn.GraphDataset(data.train, model, WIDE.subgraph_nodes, seed=7, resample=True)
    first, second = sampled[0], sampled[0]
    assert first.x.shape[0] == 16 and first.corr.shape == (1, 3, 16, 16) and first.y.shape == (1, 16, 16)
    assert not torch.equal(first.node_ids, second.node_ids)  # a new subset at every access ...
    again = gnn.GraphDataset(data.train, model, WIDE.subgraph_nodes, seed=7, resample=True)[0]
    assert torch.equal(first.node_ids, again.node_ids)  # ... reproducibly
    nodes = first.node_ids.numpy()
    assert (np.diff(nodes) > 0).all()
    # the subset's components and target are the blocks of the whole graph's
    full = data.train.components(0)
    np.testing.assert_allclose(first.corr[0].numpy(), full[:, nodes][:, :, nodes], atol=1e-6)
    np.testing.assert_allclose(first.y[0].numpy(), data.train.target_at(0)[np.ix_(nodes, nodes)], atol=1e-6)
    # the subgraph keeps the whole graph's edges between its nodes, renumbered
    src, dst = whole.edge_index.numpy()
    inside = np.isin(src, nodes) & np.isin(dst, nodes)
    assert first.edge_index.shape[1] == inside.sum() > 16
    np.testing.assert_array_equal(nodes[first.edge_index.numpy()], np.stack([src[inside], dst[inside]]))


def test_training_on_subgraphs_gives_valid_fast_forecasts(wide_panel):
    daily, instruments = wide_panel
    result = gnn.train_gnn_corr(daily, instruments, WIDE)
    assert len(result.history["train_loss"]) == WIDE.max_epochs
    assert np.isfinite([result.metrics[k] for k in ("frobenius_gnn", "frobenius_untrained")]).all()
    started = time.perf_counter()
    frame = result.forecast(daily)
    assert time.perf_counter() - started < 5.0
    assert frame.shape == (60, 60)
    assert_valid_correlation(frame.to_numpy())


def test_training_budget_and_test_thinning(wide_panel):
    daily, instruments = wide_panel
    config = replace(WIDE, max_epochs=10_000, max_train_seconds=1.0, max_test_cells=60 * 60 * 7)
    data = gnn.build_graph_data(daily, instruments, config)
    every = gnn.build_graph_data(daily, instruments, WIDE).test.dates
    assert len(data.test.dates) == 7 and data.test.dates[[0, -1]].equals(every[[0, -1]])
    result = gnn.train_on_graphs(data, config)
    assert len(result.history["train_loss"]) < 10_000
    assert result.metrics["fit_seconds"] < 20.0  # 1 s budget, checked after every step (+ validation, scoring)
