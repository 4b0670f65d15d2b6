"""``FederatedManyToManyField``: the field, its through models, managers and checks."""
