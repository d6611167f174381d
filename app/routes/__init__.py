"""HTTP routes, thin: validation by the models, work in app.intake and app.ticket_lookup."""
