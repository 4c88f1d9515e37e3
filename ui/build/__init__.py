"""The Build page's panels: the layer editor."""
