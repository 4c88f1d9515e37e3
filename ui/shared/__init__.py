"""What every page shares: cached state, session identity, sidebar, talk mode, links, widgets."""
