"""Latent structure of the policy: PCA and cross-validated decoding of phase and target.

The imitation policy encodes the upcoming reference into a small latent (intention network).
If its latent space is structured, reach phase and reach target should be decodable from it.
Decoding uses folds that never split a clip (otherwise neighbouring, nearly identical frames
leak between train and test); phase decoding reports balanced accuracy against the chance
level 1 / n_phases, target decoding the cross-validated R^2 (continuous targets, ridge) or
balanced accuracy (categorical targets).

>>> rng = np.random.default_rng(0)
>>> phase = np.repeat([0, 1, 2], 40); clips = np.tile(np.repeat(np.arange(4), 10), 3)
>>> lat = rng.standard_normal((120, 8)); lat[:, 0] += 3 * phase
>>> ls = latent_structure(lat, phase=phase, clips=clips, seed=0)
>>> ls.decoding["phase"]["balanced_accuracy"] > 0.9
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .alignment import _num

__all__ = ["LatentStructure", "latent_structure"]


@dataclass
class LatentStructure:
    """Result of :func:`latent_structure`.

    explained_variance_ratio: (n_components,) of the PCA.
    projection: (T, n_components) PCA scores (for trajectory plots).
    decoding: {"phase": {...}, "target": {...}} cross-validated scores.
    """

    explained_variance_ratio: np.ndarray
    projection: np.ndarray
    decoding: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_samples: int = 0
    latent_dim: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"n_samples": self.n_samples, "latent_dim": self.latent_dim,
                "explained_variance_ratio": [_num(float(v)) for v in
                                             self.explained_variance_ratio],
                "decoding": {k: {kk: _num(vv) if not isinstance(vv, (list, dict)) else vv
                                 for kk, vv in v.items()} for k, v in self.decoding.items()}}


def _cv_classify(Z: np.ndarray, y: np.ndarray, cv, groups) -> np.ndarray:
    """Cross-validated class predictions of a scaled logistic regression (a fold whose
    training part holds one class predicts that class)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.empty_like(y)
    for tr, te in cv.split(Z, y, groups):
        if np.unique(y[tr]).size < 2:
            pred[te] = y[tr][0]
            continue
        m = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        m.fit(Z[tr], y[tr])
        pred[te] = m.predict(Z[te])
    return pred


def _folds(n: int, groups, n_folds: int, seed: int):
    from sklearn.model_selection import GroupKFold, KFold

    if groups is not None and len(np.unique(groups)) >= 2:
        k = min(n_folds, len(np.unique(groups)))
        return GroupKFold(n_splits=k), "clip", k
    k = min(n_folds, max(2, n // 10))
    return KFold(n_splits=k, shuffle=False), "block", k


def latent_structure(latents: np.ndarray, *, phase: np.ndarray | None = None,
                     target: np.ndarray | None = None, clips: np.ndarray | None = None,
                     n_components: int = 3, n_folds: int = 5, seed: int = 0
                     ) -> LatentStructure:
    """PCA of policy latents and cross-validated decoding of reach phase and target.

    Parameters
    ----------
    latents: (T, D) latent vectors (frames of all clips stacked).
    phase: (T,) integer phase labels (e.g. :func:`~neuroimit.analysis.kinematics.phase_labels`).
    target: (T,) categorical or (T, d) continuous reach target per frame.
    clips: (T,) clip id per frame (folds never split a clip).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Z = np.asarray(latents, float)
    if Z.ndim != 2:
        raise DataError(f"latents have shape {Z.shape}", field="latent",
                        expected="(time, latent_dim)")
    ok = np.isfinite(Z).all(axis=1)
    Zo = Z[ok]
    if len(Zo) < 3:
        raise DataError(f"only {len(Zo)} finite latent frames", field="latent",
                        expected="at least 3 frames")
    nc = int(min(n_components, Zo.shape[1], len(Zo)))
    pca = PCA(n_components=nc, random_state=seed).fit(Zo)
    proj = np.full((len(Z), nc), np.nan)
    proj[ok] = pca.transform(Zo)
    groups = None if clips is None else np.asarray(clips)[ok]
    dec: dict[str, dict[str, Any]] = {}
    if phase is not None:
        y = np.asarray(phase)[ok]
        classes = np.unique(y)
        if classes.size >= 2:
            cv, how, k = _folds(len(y), groups, n_folds, seed)
            pred = _cv_classify(Zo, y, cv, groups)
            dec["phase"] = {"balanced_accuracy": float(balanced_accuracy_score(y, pred)),
                            "chance": 1.0 / classes.size, "n_classes": int(classes.size),
                            "folds": how, "n_folds": int(k)}
    if target is not None:
        y = np.asarray(target)[ok]
        cv, how, k = _folds(len(y), groups, n_folds, seed)
        if y.dtype.kind in "fc" and (y.ndim == 2 or np.unique(y).size > 10):
            Y = y.reshape(len(y), -1).astype(float)
            pred = np.full(Y.shape, np.nan)
            for tr, te in cv.split(Zo, Y, groups):
                m = make_pipeline(StandardScaler(), RidgeCV(alphas=[1e-2, 1e-1, 1, 10, 100]))
                m.fit(Zo[tr], Y[tr])
                pred[te] = m.predict(Zo[te]).reshape(len(te), -1)
            sse = ((Y - pred) ** 2).sum(0)
            sst = ((Y - Y.mean(0)) ** 2).sum(0)
            r2 = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.nan)
            dec["target"] = {"r2": float(np.nanmean(r2)), "r2_per_dim": [_num(v) for v in r2],
                             "kind": "continuous", "folds": how, "n_folds": int(k)}
        else:
            classes = np.unique(y)
            if classes.size >= 2:
                pred = _cv_classify(Zo, y, cv, groups)
                dec["target"] = {"balanced_accuracy": float(balanced_accuracy_score(y, pred)),
                                 "chance": 1.0 / classes.size, "kind": "categorical",
                                 "folds": how, "n_folds": int(k)}
    return LatentStructure(pca.explained_variance_ratio_, proj, dec, int(ok.sum()), Z.shape[1])
