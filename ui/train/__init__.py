"""The Train page's panels: settings, the job panel, live curves, steering and following."""
