"""Resources: one module per concern, each with its local variant (remote variants come with their tracks)."""
