"""neuroimit.stac: register a MuJoCo body to 3D keypoints (STAC), fast on a CPU.

>>> from neuroimit.stac import StacConfig, register, Registration   # doctest: +SKIP
>>> reg = register(session, "mouse_forelimb", StacConfig())          # doctest: +SKIP

See docs/stac.md.
"""
from .config import StacConfig
from .register import register, register_arrays, register_demo, register_many
from .registration import Registration

__all__ = ["StacConfig", "Registration", "register", "register_many", "register_arrays",
           "register_demo"]
