"""The shared test harness: processes, servers, clients and waits that the test modules use.
Test modules import from here (and get fixtures from the conftest files), never from each other."""
