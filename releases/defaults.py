"""The rules releases start with: the guide's regular release windows."""

import datetime as dt

# The guide: "Wednesday, Thursday, and Friday between 12am and 3am PST".
DEFAULT_POLICY = {
    "name": "Regular release windows",
    "rrule": "FREQ=WEEKLY;BYDAY=WE,TH,FR",
    "start_time": dt.time(0, 0),
    "duration_minutes": 180,
    "zone": "America/Los_Angeles",
    "effective_from": dt.date(2020, 1, 1),
    "applies_to_all": True,
}
