"""Voice flows, one module each.  Importing this package registers their steps."""

from ivr.flows import (  # noqa: F401
    appointments,
    booking,
    departments,
    doctors,
    identify,
    introduction,
    main,
    person,
    reminder,
    services,
)
