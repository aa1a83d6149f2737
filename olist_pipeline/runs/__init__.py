"""One module per job the `pipeline` option names: training (and cd), deploy/undeploy, inference,
lineage; `common` is what they share, `reuse` the record that answers an identical training run."""
