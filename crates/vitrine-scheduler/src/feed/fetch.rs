//! Product feeds fetched from a URL on a schedule.
