"""Everything that touches the world on behalf of workflows: database, executors, event relay."""
