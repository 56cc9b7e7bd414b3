"""The docker backend: the topology in containers, one Docker network per site, every link
through a Toxiproxy container (:mod:`harness.backends.docker.backend`)."""
