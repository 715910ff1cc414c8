"""neuroimit.loaders (see docs/)."""
