"""neuroimit.dynamics (see docs/)."""
