"""One router per resource."""

MAX_INT = 2**31 - 1  # bound for ids, versions and offsets: the databases' integers are finite
