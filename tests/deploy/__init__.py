"""Tests of what ships faultline to a cluster: the container image definition and the Helm chart."""
