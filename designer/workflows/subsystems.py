"""The workflow subsystems, imported for the planners and handlers they register with `schedule`."""
from . import bulk, followups, timed  # noqa: F401  (follow-ups, their bulk planning, time-driven reclassification)
from . import automations, pools  # noqa: F401  (public pools; created/changed/date/schedule automations)
from . import replan  # noqa: F401  (planning every record again after a large publish)
