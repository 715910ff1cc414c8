"""Dynamical analysis: empirical dynamic modelling (simplex, S-map, CCM), significance
tests, linear state-space forecasting and Granger baselines.

Numbers match pyEDM 2.5.7 (simplex, S-map, scans, CCM with the same seed); CCM runs an
exact neighbour-ordering algorithm much faster than a KD-tree per library. See
docs/causal_analysis.md.

Examples
--------
>>> from neuroimit.dynamics import ccm, coupled_logistic
>>> x, y = coupled_logistic(300)
>>> r = ccm(x, y, E=2, lib_sizes=[20, 290], samples=10)
>>> r.to_pandas().columns.tolist()[:3]
['LibSize', 'x:y', 'y:x']
"""
from .ccm import ccm, ccm_matrix, coupled_logistic, lib_range
from .embedding import embed, embed_columns, segment_ids_to_valid
from .granger import GrangerResult, var_granger
from .results import CCMMatrix, CCMResult, Prediction, ScanResult, pearson, skill
from .scans import embed_dimension, predict_exclusion_radius, predict_interval, predict_nonlinear
from .session_helpers import Channels, channels_from_arrays, channels_from_session
from .significance import SignificanceResult, ccm_significance, convergence_test, fisher_z_test
from .simplex import simplex
from .smap import smap
from .ssm import LinearSSMForecaster, forecast_skill, kalman_forecast
from .surrogates import surrogates

__all__ = [
    "embed", "embed_columns", "segment_ids_to_valid", "simplex", "smap", "skill", "pearson",
    "embed_dimension", "predict_interval", "predict_nonlinear", "predict_exclusion_radius",
    "ccm", "ccm_matrix", "coupled_logistic", "lib_range", "surrogates", "ccm_significance",
    "convergence_test", "fisher_z_test", "LinearSSMForecaster", "forecast_skill",
    "kalman_forecast", "var_granger", "GrangerResult", "Prediction", "ScanResult",
    "CCMResult", "CCMMatrix", "SignificanceResult", "Channels", "channels_from_arrays",
    "channels_from_session",
]
