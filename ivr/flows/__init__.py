"""Voice flows, one module each.  Importing this package registers their steps."""

from ivr.flows import departments, doctors, introduction, main, person, services  # noqa: F401
