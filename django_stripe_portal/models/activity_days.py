"""One settled day of portal activity, summed once (``activity.settled``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ActivityDay(models.Model):
    """The figures of one day's visits in ``time_zone``, written once the day's week can
    no longer change (``activity.settled``) and read instead of the day's rows.

    A cache of what the visits and their linked changes say: deleting rows is always
    safe (the next report sums those weeks again).
    """

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    #: ``activity.settled.SETTLED_VERSION`` of the code that summed the day: rows of
    #: another version are summed again, not read.
    version = models.PositiveSmallIntegerField()
    visits = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    #: Distinct customers of the day.
    customers = models.PositiveIntegerField(default=0)
    #: Customers whose last visit of the day's week (Monday to Sunday) is on this day.
    last_of_week = models.PositiveIntegerField(default=0)
    #: The day's first visit of each customer, counted by the days since that customer's
    #: visit before it (``{"12": 3, "none": 40}``): how many of the day's customers a
    #: range starting on any earlier day has not seen yet.
    first_visit_gaps = models.JSONField(default=dict)
    # What a range only ever sums by whole weeks is kept on the Monday's row, for the
    # week (the other days hold none): a year's report reads a seventh of it.
    #: ``activity.figures.change_counts`` of the week's visits.
    changes = models.JSONField(default=dict)
    #: ``[feedback, feedback_option, label, cancellations]`` of the week's visits.
    cancellation_reasons = models.JSONField(default=list)
    #: ``{coupon: [offers, accepted]}`` of the week's visits.
    retention_offers = models.JSONField(default=dict)
    #: ``activity.movements.movement_rows`` of the week's visits, as lists.
    movements = models.JSONField(default=list)
    #: ``activity.movements.cancellation_rows`` of the week's cancellations (by the
    #: events' time), as lists, under ``"live"`` and ``"test"``.
    cancellations = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("settled activity day")
        constraints = [
            models.UniqueConstraint(
                fields=["time_zone", "version", "day"], name="stripe_portal_activity_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} ({self.time_zone})"
