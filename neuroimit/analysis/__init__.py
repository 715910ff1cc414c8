"""neuroimit.analysis (see docs/)."""
