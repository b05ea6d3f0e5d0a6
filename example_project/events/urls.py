from __future__ import annotations

from django.conf import settings
from django.urls import path

from example_project.events.partner_views import event_availability

# The one switch between the code as it drifted (views.py) and after the
# three fixes (views_fixed.py): EXAMPLE_VARIANT=fixed.
if settings.EXAMPLE_VARIANT == "fixed":
    from example_project.events import views_fixed as views
else:
    from example_project.events import views

app_name = "events"
urlpatterns = [
    path("api/events/", views.event_list, name="event-list"),
    path("api/events/<slug:slug>/", views.event_detail, name="event-detail"),
    path("api/events/<slug:slug>/availability/", event_availability, name="event-availability"),
    path("api/organizers/", views.organizer_list, name="organizer-list"),
    path("api/me/tickets/", views.my_tickets, name="my-tickets"),
    path("venues/", views.venue_list, name="venue-list"),
]
