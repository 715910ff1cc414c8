"""neuroimit.synth: synthetic mouse reaching sessions with known ground truth.

>>> from neuroimit.synth import SynthConfig, make_session
>>> sess = make_session(SynthConfig(duration=2.0, seed=0))     # doctest: +SKIP
>>> sess.truth["qpos"].dims                                     # doctest: +SKIP
('time', 'joint')

See docs/synth.md.
"""
from .config import SynthConfig
from .generate import demo_session, make_session, replay_truth, truth_model, write_synthetic_nwb

__all__ = ["SynthConfig", "make_session", "write_synthetic_nwb", "demo_session",
           "replay_truth", "truth_model"]
