"""The Inside page's panels: backprop step by step, and a saved run's replay."""
