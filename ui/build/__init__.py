"""The Build page's panels: the layer editor and the network diagram."""
