"""What an operator can do, written once: the CLI (`bridge ...`) and the admin API (`/api/v1`) both
call these functions.

Each takes the process's Runtime and plain values, returns plain data (phone numbers already
masked), and raises a `ServiceError` (NotFound, InvalidRequest, Conflict) when the request can't be
done as asked: the CLI prints the message and exits 1, the API answers it with its status.
"""
