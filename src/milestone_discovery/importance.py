"""Held-out conditional importance of 0/1 flags, with a test per feature.

The importance model is a random forest on flags + size/plan covariates,
fitted without class re-weighting so that its probabilities stay calibrated
and log loss means what it says. It is cross-fitted: repeated 2-fold splits,
so every account is held out once per repeat.

For a held-out row ``i`` and flag ``j``, the *conditional* permutation loss
redraws ``x_ij`` from its probability given the row's other flags and
covariates, ``pi_ij = P(x_j = 1 | x_-j, z)`` (a model fitted on the training
half), and its expectation is exact for a 0/1 flag::

    loss~_ij = pi_ij * loss(x_ij = 1) + (1 - pi_ij) * loss(x_ij = 0)

(both predictions come from one tree walk, :func:`forest_predictions`). The
per-row difference ``delta_ij = loss~_ij - loss_i`` has mean zero when the
flag carries no information about retention beyond the other columns
(the conditional randomization argument of model-X knockoffs; Watson & Wright
2021, "Testing conditional independence in supervised learning algorithms";
Strobl et al. 2008 for conditional importance), so each feature gets a
one-sided test of ``mean(delta) > 0``. A proxy of a driver is redrawn from
its probability given the driver, so it loses its importance, unlike with
marginal permutation.

The conditional model is a ridge-regularised linear predictor of each flag
from all other columns, computed for every flag at once from one inverse
covariance matrix, passed through a logistic link fitted per flag on the
training rows (two parameters each), clipped to ``[1/n, 1 - 1/n]``.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _st
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold

from ._progress import progress_bar
from ._treeflip import forest_predictions
from .config import FeatureConfig

__all__ = [
    "importance_forest",
    "conditional_flag_probabilities",
    "expected_permutation_importance",
    "CrossFitResult",
    "cross_fitted_importance",
    "EPS",
    "equivalent_odds_ratio",
    "log_loss_rows",
]

EPS = 1e-6


def importance_forest(
    cfg: FeatureConfig, seed: int, n_estimators: int | None = None, n_rows: int | None = None
) -> RandomForestClassifier:
    """The study's forest: bounded depth and leaf size, no class weights
    (calibrated probabilities).

    With ``n_rows`` (the training rows) above ``cfg.tree_max_rows``, each tree
    is grown on a bootstrap sample of ``tree_max_rows`` rows instead of
    ``n_rows``: a tree of bounded depth has at most ``2**max_depth`` leaves,
    so beyond some tens of rows per leaf more rows barely change it, while
    the forest as a whole still sees every row.
    """
    cap = cfg.tree_max_rows
    return RandomForestClassifier(
        n_estimators=n_estimators or cfg.n_estimators,
        max_depth=cfg.max_depth,
        min_samples_leaf=cfg.min_samples_leaf,
        max_features="sqrt",
        max_samples=cap if n_rows is not None and n_rows > cap else None,
        n_jobs=-1,
        random_state=seed,
    )


def log_loss_rows(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row log loss of predicted probabilities ``p`` of class 1."""
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def conditional_flag_probabilities(
    X_train: np.ndarray, X_test: np.ndarray, n_flags: int, ridge: float = 1e-3
) -> np.ndarray:
    """``P(x_j = 1 | other columns)`` for the first ``n_flags`` columns of ``X_test``.

    One ridge-regularised inverse correlation matrix of the training rows
    gives every column's linear regression on all the others at once
    (``beta_jk = -Omega_jk / Omega_jj``); each flag's linear score then goes
    through a logistic link fitted on the training rows.

    Returns
    -------
    ndarray (n_test, n_flags), probabilities clipped to ``[1/n, 1 - 1/n]``.
    """
    X_train = np.asarray(X_train, dtype=np.float64)
    mean = X_train.mean(axis=0)
    sd = X_train.std(axis=0)
    keep = sd > 0
    Z = (X_train[:, keep] - mean[keep]) / sd[keep]
    corr = Z.T @ Z / len(Z)
    omega = np.linalg.inv(corr + ridge * np.eye(len(corr)))
    beta = -omega / np.diag(omega)[None, :]  # column j: coefficients predicting column j
    np.fill_diagonal(beta, 0.0)
    kept_index = np.flatnonzero(keep)
    flag_cols = kept_index < n_flags
    targets = kept_index[flag_cols]

    def linear(X):
        Zx = (np.asarray(X, dtype=np.float64)[:, keep] - mean[keep]) / sd[keep]
        return (Zx @ beta[:, flag_cols]) * sd[targets] + mean[targets]

    # Flags are 0/1: pass each linear score through a logistic link fitted on the training
    # rows (two parameters per flag), so that e.g. adoption rising in an S-curve with size
    # is matched and no residual dependence is mistaken for importance.
    a, b = _logistic_calibration(linear(X_train), X_train[:, targets])
    out = np.tile(mean[:n_flags], (len(X_test), 1))
    out[:, targets] = 1 / (1 + np.exp(-np.clip(a + b * linear(X_test), -30, 30)))
    bound = 1.0 / max(len(X_train), 2)
    return np.clip(out, bound, 1 - bound)


def _logistic_calibration(score: np.ndarray, target: np.ndarray, iters: int = 25):
    """Per column ``j``: ``(a_j, b_j)`` of
    ``P(target_j = 1) = expit(a_j + b_j * score_j)`` (Newton).
    """
    a = np.zeros(score.shape[1])
    b = np.zeros(score.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(a + b * score, -30, 30)))
        w = p * (1 - p) + 1e-9
        r = target - p
        g_a, g_b = r.sum(axis=0), (r * score).sum(axis=0)
        h_aa, h_ab, h_bb = w.sum(axis=0), (w * score).sum(axis=0), (w * score**2).sum(axis=0)
        det = h_aa * h_bb - h_ab**2
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        da, db = (h_bb * g_a - h_ab * g_b) / det, (h_aa * g_b - h_ab * g_a) / det
        a, b = a + da, b + db
        if max(np.abs(da).max(initial=0), np.abs(db).max(initial=0)) < 1e-8:
            break
    return a, b


def expected_permutation_importance(
    model, X: np.ndarray, y: np.ndarray, columns, probabilities=None
):
    """Per-row expected increase in log loss when each 0/1 column is redrawn.

    Parameters
    ----------
    model : fitted RandomForestClassifier
    X, y : arrays
        Held-out rows and outcome.
    columns : sequence of int
        0/1 columns of ``X`` to redraw.
    probabilities : ndarray (n, len(columns)), optional
        Per-row probability that the redrawn value is 1. Default: the column's
        prevalence in ``X`` (ordinary, marginal permutation importance).

    Returns
    -------
    delta : ndarray (n, len(columns))
        Per-row expected loss after the redraw minus the row's loss; its column
        mean is the importance.
    base : ndarray (n,)
        The unmodified predictions (class 1 probability).
    """
    columns = list(columns)
    base, flipped = forest_predictions(model, X, columns)
    base_loss = log_loss_rows(base, y)
    delta = np.empty((len(X), len(columns)))
    for k, j in enumerate(columns):
        col = X[:, j]
        p = col.mean() if probabilities is None else probabilities[:, k]
        flip_loss = log_loss_rows(flipped[:, k], y)
        loss1 = np.where(col == 1, base_loss, flip_loss)
        loss0 = np.where(col == 1, flip_loss, base_loss)
        delta[:, k] = p * loss1 + (1 - p) * loss0 - base_loss
    return delta, base


def _import_apart(module: str) -> None:
    """Import ``module`` on a thread of its own, whose stack holds nothing of the caller.

    Importing shap keeps its importer's frames alive for good (a traceback that a
    numba-compiled function of ``shap.maskers`` holds on to): imported here, the
    locals of this stage and of its callers (importance matrices, the population:
    0.6 GB at 1M accounts) would never be freed.
    """
    if module not in sys.modules:
        thread = threading.Thread(target=importlib.import_module, args=(module,), daemon=True)
        thread.start()
        thread.join()  # an import error is raised again by the import that follows


def _shap_mean_abs(model, X: np.ndarray, n_features: int, max_trees: int = 50) -> np.ndarray:
    """Mean |SHAP| per feature (class "retained"); a fixed sub-forest keeps it cheap."""
    import copy

    _import_apart("shap")
    import shap

    if len(model.estimators_) > max_trees:
        model = copy.copy(model)
        model.estimators_ = model.estimators_[:max_trees]
        model.n_estimators = max_trees
    values = shap.TreeExplainer(model).shap_values(X, check_additivity=False)
    if isinstance(values, list):  # older shap: one array per class
        values = values[1]
    values = np.asarray(values)
    if values.ndim == 3:  # (n, p, n_classes)
        values = values[:, :, 1]
    return np.abs(values).mean(axis=0)[:n_features]


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
        "log_loss": float(log_loss_rows(p, y).mean()),
    }


@dataclass
class CrossFitResult:
    """Per-feature importance statistics and held-out model metrics."""

    importance: pd.DataFrame
    metrics: pd.DataFrame
    timings: dict[str, float]


def cross_fitted_importance(
    flags: pd.DataFrame,
    covariates: pd.DataFrame,
    retained: pd.Series,
    cfg: FeatureConfig,
    seed: int,
    *,
    progress: bool = True,
) -> CrossFitResult:
    """Cross-fitted conditional importance of every flag, with a one-sided test.

    Per repeat every row is held out once. Each account's loss increase is
    averaged over the repeats; the feature's importance is the mean of these
    and its standard error their standard deviation over ``sqrt(n)``; the
    p-value of ``importance > 0`` comes from the normal distribution.

    Returns
    -------
    CrossFitResult
        ``importance`` has ``feature``, ``importance``, ``importance_se``,
        ``importance_p``, ``equivalent_or`` (:func:`equivalent_odds_ratio`),
        ``stability`` (share of repeats whose own estimate is significant at
        ``cfg.alpha``, its standard error taken as ``sqrt(n_repeats)`` times the
        pooled one), ``marginal_importance`` (ordinary permutation, for
        reference), ``shap_mean_abs``, ``impurity_importance_biased``.
    """
    names = list(flags.columns)
    p = len(names)
    X_feat = flags.to_numpy(dtype=np.float32)
    X_cov = covariates.to_numpy(dtype=np.float32)
    X = np.hstack([X_feat, X_cov]) if X_cov.shape[1] else X_feat
    y = retained.to_numpy(dtype=int)
    R = cfg.n_repeats
    splitter = RepeatedStratifiedKFold(n_splits=cfg.n_splits, n_repeats=R, random_state=seed)
    splits = list(splitter.split(X, y))
    sums = np.zeros((R, p))
    scale_sums = np.zeros(p)  # sum of q(1-q) pi(1-pi): turns log-odds effects into loss
    counts = np.zeros(R)
    row_sum = np.zeros((len(y), p))  # per account: loss increases summed over the repeats
    row_n = np.zeros(len(y))
    marginal = np.zeros((R, p))
    impurity = np.zeros((len(splits), p))
    shap_values = np.full(p, np.nan)
    rows = []
    timings = {
        "fit": 0.0,
        "conditional_model": 0.0,
        "predict_permutation": 0.0,
        "shap": 0.0,
        "covariates": 0.0,
    }
    for s, (train, test) in enumerate(
        progress_bar(splits, desc="feature model", disable=not progress)
    ):
        r = s // cfg.n_splits
        t0 = time.perf_counter()
        model = importance_forest(cfg, seed + s, n_rows=len(train)).fit(X[train], y[train])
        model.set_params(
            n_jobs=1
        )  # threads would sum trees in varying order: one for reproducibility
        timings["fit"] += time.perf_counter() - t0
        rows_used = test
        if len(test) > cfg.permutation_max_rows:  # a fixed random subset of a large held-out half
            keep = np.random.default_rng(seed + s).choice(
                len(test), cfg.permutation_max_rows, replace=False
            )
            rows_used = test[np.sort(keep)]
        t0 = time.perf_counter()
        # the conditional model has two parameters per flag and one covariance matrix: a
        # fixed random subset of a large training half estimates them as well
        fit_rows = train
        if len(train) > cfg.tree_max_rows:
            pick = np.random.default_rng(seed + s).choice(
                len(train), cfg.tree_max_rows, replace=False
            )
            fit_rows = train[np.sort(pick)]
        probs = conditional_flag_probabilities(X[fit_rows], X[rows_used], p)
        timings["conditional_model"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        delta, base = expected_permutation_importance(
            model, X[rows_used], y[rows_used], range(p), probs
        )
        sums[r] += delta.sum(axis=0)
        scale_sums += ((base * (1 - base))[:, None] * probs * (1 - probs)).sum(axis=0)
        counts[r] += len(rows_used)
        row_sum[rows_used] += delta
        row_n[rows_used] += 1
        # ordinary (marginal) permutation importance from the same tree walk, for reference
        prev = X[rows_used][:, :p].mean(axis=0)
        marginal[r] += _marginal_from_conditional(delta, probs, prev, X[rows_used][:, :p]).sum(
            axis=0
        )
        # held-out metrics on the same rows (the whole half unless it is large)
        rows.append({"model": "covariates+features", "split": s, **_metrics(y[rows_used], base)})
        impurity[s] = model.feature_importances_[:p]
        timings["predict_permutation"] += time.perf_counter() - t0
        if s == 0 and cfg.shap_sample > 0:
            t0 = time.perf_counter()
            sample = np.random.default_rng(seed).choice(
                test, size=min(cfg.shap_sample, len(test)), replace=False
            )
            shap_values = _shap_mean_abs(model, X[sample], p)
            timings["shap"] += time.perf_counter() - t0
        if s >= cfg.n_splits:  # the baseline is compared on the first repeat's splits only
            continue
        t0 = time.perf_counter()
        if X_cov.shape[1]:
            cov_model = importance_forest(
                cfg, seed + s, n_estimators=max(cfg.n_estimators // 4, 10), n_rows=len(train)
            )
            cov_model.fit(X_cov[train], y[train]).set_params(n_jobs=1)
            cov_pred = cov_model.predict_proba(X_cov[rows_used])[:, 1]
        else:  # no covariates: the baseline is the training retention rate
            cov_pred = np.full(len(rows_used), y[train].mean())
        rows.append({"model": "covariates", "split": s, **_metrics(y[rows_used], cov_pred)})
        timings["covariates"] += time.perf_counter() - t0

    mean_r = sums / counts[:, None]
    importance = mean_r.mean(axis=0)
    # Each account's loss increase averaged over the repeats (it is held out once in each):
    # the standard error of their mean is the test's; averaging first removes most of the
    # noise of any one forest.
    seen = row_n > 0
    per_row = row_sum[seen] / row_n[seen, None]
    se = per_row.std(axis=0, ddof=1) / np.sqrt(seen.sum())
    se_r = se * np.sqrt(R)  # one repeat alone: up to sqrt(R) times noisier
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, importance / se, 0.0)
        z_r = np.where(se_r > 0, mean_r / se_r, 0.0)
    table = pd.DataFrame(
        {
            "feature": names,
            "importance": importance,
            "importance_se": se,
            "importance_p": _st.norm.sf(z),
            "equivalent_or": equivalent_odds_ratio(importance, scale_sums / counts.sum()),
            "stability": (z_r > _st.norm.ppf(1 - cfg.alpha)).mean(axis=0),
            "marginal_importance": (marginal / counts[:, None]).mean(axis=0),
            "shap_mean_abs": shap_values,
            "impurity_importance_biased": impurity.mean(axis=0),
        }
    )
    return CrossFitResult(importance=table, metrics=_summarise_metrics(rows), timings=timings)


def equivalent_odds_ratio(importance: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The conditional odds ratio whose removal costs ``importance`` nats of log loss.

    If retention's log-odds move by ``beta`` with a 0/1 flag, redrawing the
    flag from its conditional probability ``pi`` raises a row's expected log
    loss by about ``q (1 - q) pi (1 - pi) beta**2`` (second-order expansion
    around the prediction ``q``). With ``scale`` the held-out mean of
    ``q (1 - q) pi (1 - pi)``, the equivalent odds ratio is
    ``exp(sqrt(importance / scale))`` (1 when the importance is not positive).
    """
    importance = np.asarray(importance, dtype=float)
    scale = np.asarray(scale, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = np.sqrt(np.where(scale > 0, np.clip(importance, 0, None) / scale, 0.0))
    return np.where(np.isfinite(importance), np.exp(beta), np.nan)


def _marginal_from_conditional(delta, probs, prevalence, flags):
    """Per-row marginal-permutation loss increase, from the conditional one.

    ``delta = pi * L1 + (1 - pi) * L0 - L_obs``; with ``L1 - L0`` known up to
    sign from the observed value, the same quantity at ``pi = prevalence``
    follows without another prediction.
    """
    # L_obs is L1 where x = 1, else L0; delta = (pi - x) * (L1 - L0)
    diff = np.where(flags == 1, probs - 1, probs)
    with np.errstate(invalid="ignore", divide="ignore"):
        l1_minus_l0 = np.where(diff != 0, delta / diff, 0.0)
    return (prevalence[None, :] - flags) * l1_minus_l0


def _summarise_metrics(rows: list[dict]) -> pd.DataFrame:
    per_split = pd.DataFrame(rows)
    cols = ["roc_auc", "pr_auc", "brier", "log_loss"]
    metrics = per_split.groupby("model", sort=False)[cols].agg(["mean", "std"])
    metrics.columns = [f"{m}_{s}" for m, s in metrics.columns]
    metrics.insert(0, "splits", per_split.groupby("model", sort=False).size())
    metrics = metrics.reset_index()
    paired = per_split.pivot(index="split", columns="model", values="roc_auc").dropna()
    gain = paired["covariates+features"] - paired["covariates"]
    metrics["roc_auc_gain_vs_covariates"] = [float(gain.mean()), 0.0]
    return metrics
