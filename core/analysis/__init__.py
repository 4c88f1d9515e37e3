"""What a trained network does: evaluation, live probes, views inside it, a backprop step traced."""
