"""Voice flows, one module each.  Importing this package registers their steps."""

from ivr.flows import (  # noqa: F401
    appointments,
    booking,
    departments,
    doctors,
    followup,
    identify,
    introduction,
    main,
    person,
    reminder,
    services,
    survey,
)
