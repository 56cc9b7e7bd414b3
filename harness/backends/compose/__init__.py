"""The compose backend: a Compose project of the topology (``hchaos compose`` writes it), up
in staging or on this machine; experiments attach to it by labels and start nothing."""
