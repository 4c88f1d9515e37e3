"""The room's pages: the phone's one-task page (phone) and the presenter's wall (wall), with what
they share (hub): one store per server, the presenter's secret, each phone's id."""
