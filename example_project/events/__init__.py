"""Organizers, venues, tags, events, ticket types, tickets, attendees, reviews."""
