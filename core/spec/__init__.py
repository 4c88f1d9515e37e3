"""What a network and its training are: specs, presets, settings and their limits, and what a
run will cost (parameters, FLOPs, memory). Leaves: they read no files and start no training."""
