"""A small host project for the task-mode tests on real worker engines (django-tasks-db's
``db_worker``, an RQ worker through django-tasks-rq): gunicorn serves the webhook and
the workers dispatch, each in its own process, against the test database."""
