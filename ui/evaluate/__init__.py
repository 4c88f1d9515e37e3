"""The Evaluate page's panels: importing runs and weights."""
