"""The client tools: the load generator (`echo-tui load`), the line client
(`echo-tui client`) and the demo swarm (`--demo`)."""
