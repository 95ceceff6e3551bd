"""A tiny project for the worker-kill test: the test settings plus one receiver that
blocks mid-dispatch while a file exists, so the test can SIGKILL the worker there."""
