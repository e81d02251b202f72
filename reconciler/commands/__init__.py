"""The imperative shell of each command: load, observe, plan, render; exit codes per docs/architecture.md."""
