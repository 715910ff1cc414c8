"""neuroimit.analysis: EMG processing, activation-EMG alignment, preset comparisons,
kinematic reproduction, latent structure, and the run report (docs/analysis.md, docs/report.md).

>>> from neuroimit.analysis import process_emg, align, compare_presets, latent_structure
"""
from .alignment import Alignment, align, best_lag, ridge_readout
from .comparisons import PresetComparison, compare_presets
from .emg import EMGConfig, process_emg, process_emg_array
from .kinematics import KinematicErrors, phase_labels, tracking_errors
from .latent import LatentStructure, latent_structure
from .peers import load_gilmer_reach, read_sto, sto_activations
from .stats import mixed_effects, paired_effect, paired_wilcoxon


def build_report(*args, **kwargs):
    """See :func:`neuroimit.analysis.report.build_report` (imported lazily: matplotlib)."""
    from .report import build_report as _b
    return _b(*args, **kwargs)


__all__ = ["Alignment", "align", "best_lag", "ridge_readout", "PresetComparison",
           "compare_presets", "EMGConfig", "process_emg", "process_emg_array",
           "KinematicErrors", "phase_labels", "tracking_errors", "LatentStructure",
           "latent_structure", "load_gilmer_reach", "read_sto", "sto_activations",
           "mixed_effects", "paired_effect", "paired_wilcoxon", "build_report"]
