"""neuroimit.stac (see docs/)."""
