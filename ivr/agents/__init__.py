"""Human seats: when people answer, and (in later issues) routing and the agent console."""
