"""Digits drawn on a canvas: preprocessing to MNIST style, the drawing test sets, the Draw page's
quick-train model, and following a drawing while a network trains."""
