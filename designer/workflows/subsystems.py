"""The workflow subsystems, imported for the planners and handlers they register with `schedule`."""
