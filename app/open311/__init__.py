"""Open311 GeoReport v2: the service list, the routes under /open311/v2/, JSON and XML rendering."""
