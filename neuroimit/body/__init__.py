"""neuroimit.body (see docs/)."""
