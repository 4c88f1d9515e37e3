"""Training: the trainer and its callbacks, the events they emit, and the jobs that run them.

Layout: `events` (the vocabulary), `trainer` (the loop), `callbacks` (what hooks into it),
`engines` (autograd and scratch behind one step), `checks` (what may be trained), `run` (a
job's body), `worker` (the process side) and `jobs` (the server side: registry and queue).
"""
