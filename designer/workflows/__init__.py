"""Follow-up workflows (SPEC §5–7): the durable schedule, the workers that run it, and what firing produces."""
