"""The inspector's form: one page, its script and its style.

The browser does what the API section of the README says, as the modelled
app's front end did: each photo uploaded on its own (three at a time), the
submission as JSON with both signatures drawn on canvases, the job's status
polled every second, and links to the reports once it is done.
"""

from datetime import date

from flask import Blueprint, render_template

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static")

SYSTEMS = ("HVAC", "Electrical", "Plumbing", "Fire safety", "Structure")


@bp.get("/")
def new_inspection():
    return render_template("form.html", systems=SYSTEMS, today=date.today().isoformat())
