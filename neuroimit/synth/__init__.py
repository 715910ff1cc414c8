"""neuroimit.synth (see docs/)."""
