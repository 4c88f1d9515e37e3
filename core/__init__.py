"""Digit Lab's engine: MNIST data, networks, training, evaluation and runs, with no Streamlit import."""

__version__ = "0.1.0"
