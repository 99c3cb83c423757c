"""Would the tenant start and route? Integrity stages over rendered objects: references, NetworkPolicy
reachability, Odoo configuration, and routes proven in a real Traefik."""
