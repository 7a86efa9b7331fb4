"""The paper's system as a networked system on real processes (docs/network.md; ``qnic lb-net``).

Roles, each its own OS process: the pair source (``source``, with the pair
oracle), balancer nodes (``node``), backend servers (``backend``), the load
generator (``loadgen``) and a coordinator (``coordinator``); ``orchestrate``
starts and stops them, ``study`` runs a study through them and ``report``
turns what they measured into a row per strategy. The role modules use the
standard library only, so a process starts in a fraction of a second.
"""
