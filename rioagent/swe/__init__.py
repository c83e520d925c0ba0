"""SWE-bench-style evaluation: instances, workspaces, environments, the sandbox, the runner, the grader,
reports and executors. `rioagent eval ...` (rioagent/swe/cli.py) is the front end.

Nothing here imports the agent or a model at module level, so the grader works without either.
"""
