"""The automatic call distributor (ACD): the human seats below the webhooks and the jobs.

- distributor.py: its state in Redis, changed only by Lua scripts (the fairness rule is
  contactcentre/routing.py);
- seats.py: its decisions carried out on the phone network, and the seats' sweeps;
- desk.py: what agents do, by staff id; talks.py: the conference of each talk with an agent;
- hours.py: when people answer; nurse.py: the after-care nurse's callback queue.

The voice flows (ivr/), the jobs (queueing/) and the console (console/) call it.
"""
