"""Training: one loop, and everything that runs it.

`trainer` (the loop) with `callbacks` (logging, validation, live probes, checkpoints), paced by
`cadence`; `batches` (the training set on the device, sliced), `control` (pause, stop and
steering requests), `outcome` (a result or a failure) and `checkpoint` (the loop's state, to
continue from); `engines` (autograd, or the hand-written `scratch` engine, behind one step);
`events` (the one vocabulary); `checks` (what may be trained) and `device` (where); `steering`
(new settings and single batches, sent to the loop); `replay` and `follow` (snapshots while it
trains); `steptime` and `timebudget` (how long a run will take); `run` (a job's body, wherever
it runs), `worker` (the process side), `rayexec` (Ray) and `jobs` (the server side: the
registry, its queue and executors); `race` (one network over seeds or variants) and `finetune`
(your digits mixed in).
"""
