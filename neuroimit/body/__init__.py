"""neuroimit.body: MuJoCo musculoskeletal bodies (the built-in mouse forelimb or any MJCF).

    >>> from neuroimit.body import load_body
    >>> body = load_body("mouse_forelimb")
    >>> body.muscle_names[:2]
    ('pectoralis_clavicular', 'latissimus_dorsi')

See docs/body.md.
"""
from .model import BUILTIN_BODIES, BodyModel, load_body

__all__ = ["BodyModel", "load_body", "BUILTIN_BODIES"]
