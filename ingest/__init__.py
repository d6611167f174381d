"""What the gateway and the workers share: settings, schemas, normalisation, topics, the bus, the tables."""
