"""neuroimit.imitation (see docs/)."""
