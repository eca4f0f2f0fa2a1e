"""The domain: database models and sessions, resources and secrets, users, tasks, schedules, quotas, audit."""
