"""ACE IoT API I/O: HTTP client, pages, parsing, pull planning, rate limit, breaker."""
