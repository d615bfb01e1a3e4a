"""Voice flows, one module each.  Importing this package registers their steps."""

from ivr.flows import (  # noqa: F401
    appointments,
    booking,
    complaint,
    departments,
    doctors,
    followup,
    identify,
    introduction,
    main,
    person,
    queue,
    reminder,
    services,
    survey,
)
