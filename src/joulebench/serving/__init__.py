"""Serving benchmarks: arrival laws, a streaming load client, energy per request.

Flow of one arm: `arrivals` turns a spec into absolute send times; `client` (HTTP server) or
`joulebench.workloads.engine` (in-process) serves the requests and fills one `records.RequestRecord`
each; `metrics` and `energy` turn the records into latency, throughput and energy figures; `bench`
ties them to the energy source and the results store. `testserver` is a small local streaming server
for tests and client benchmarks.
"""
