"""The contact centre's maths, as pure functions: Erlang B, C and A and the seat searches
(staffing), the forecast of calls, the roster, a queue-day's plan, a simulation of one
queue, the contact-centre figures (metrics) and the routing rule (who takes which caller).
It imports nothing of the hotline (no Flask, Redis, SQL, RQ or settings): .importlinter
checks it in test.sh, and mypy its types."""
