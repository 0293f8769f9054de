"""Flask-WTF forms shared by several views. Every form carries ``csrf_token``."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from .curricula import FOCUS_LABELS, FOCUSES
from .passwords import MAX_PASSWORD_LENGTH, password_problem
from .services.accounts import valid_timezone

COMMON_TIMEZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
]


class ActionForm(FlaskForm):
    """An empty form: gives POST-only buttons their CSRF token."""


def validate_timezone_field(form, field):
    if not valid_timezone(field.data or ""):
        raise ValidationError("Unknown time zone; use an IANA name like America/Chicago.")


class TimezoneField(StringField):
    """A text field with a datalist of common zones, checked against the zone database."""

    def __init__(self, label="Time zone", validators=None, **kwargs):
        validators = [InputRequired(), validate_timezone_field] + list(validators or [])
        kwargs.setdefault("default", "America/New_York")
        super().__init__(label, validators, **kwargs)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class SetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[InputRequired()])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("password", message="The two passwords differ.")],
    )

    def validate_password(self, field):
        if problem := password_problem(field.data or ""):
            raise ValidationError(problem)


class UserForm(FlaskForm):
    name = StringField("Full name", validators=[InputRequired(), Length(max=120)])
    email = EmailField(
        "Email", validators=[InputRequired(), Email("Enter a valid email."), Length(max=254)]
    )
    role = SelectField(
        "Role",
        # SelectChoice, not tuples: WTForms 3.3 deprecates tuples (an error under
        # the suite's filterwarnings) and 3.4 removes them.
        choices=[
            SelectChoice("member", "Member"),
            SelectChoice("provider", "Provider"),
            SelectChoice("admin", "Admin"),
        ],
    )
    timezone = TimezoneField()


class MemberAccountForm(FlaskForm):
    """A provider creating a member on the spot (the role is fixed)."""

    name = StringField("Full name", validators=[InputRequired(), Length(max=120)])
    email = EmailField(
        "Email", validators=[InputRequired(), Email("Enter a valid email."), Length(max=254)]
    )
    timezone = TimezoneField()


def validate_location(form, field):
    value = (field.data or "").strip()
    if "://" in value or value.lower().startswith(("www.", "javascript:", "data:")):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError("A video link must start with http:// or https://.")
    if any(ch in value for ch in "\r\n"):
        raise ValidationError("Use one line for the location.")


def bounded_int(
    label: str, low: int, high: int, what: str, default: int, unit: str = ""
) -> IntegerField:
    """A required whole number in [low, high] with messages that say the range."""
    return IntegerField(
        label,
        validators=[
            InputRequired(f"Enter a number from {low} to {high}."),
            NumberRange(low, high, f"{what} must be from {low} to {high}{unit}."),
        ],
        default=default,
    )


class GroupForm(FlaskForm):
    name = StringField("Group name", validators=[InputRequired(), Length(max=120)])
    focus = SelectField("Focus", choices=[SelectChoice(f, FOCUS_LABELS[f]) for f in FOCUSES])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    lead = SelectField("Lead provider", coerce=int, validate_choice=True)
    co_facilitators = SelectMultipleField("Co-facilitators", coerce=int, validate_choice=True)
    capacity = bounded_int("Capacity", 1, 50, "Capacity", default=10)
    format = SelectField(
        "Format",
        choices=[
            SelectChoice("closed", "Closed cohort (enrollment closes once sessions start)"),
            SelectChoice("open", "Open (rolling admission)"),
        ],
    )
    location = StringField(
        "Location", validators=[InputRequired(), Length(max=300), validate_location]
    )
    timezone = TimezoneField()
    status = SelectField(
        "Status",
        choices=[
            SelectChoice("draft", "Draft"),
            SelectChoice("active", "Active"),
            SelectChoice("completed", "Completed"),
            SelectChoice("archived", "Archived"),
        ],
    )


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class ScheduleForm(FlaskForm):
    start_date = DateField("First week starting", validators=[InputRequired("Pick a date.")])
    weekday = SelectField(
        "Weekday", coerce=int, choices=[SelectChoice(i, d) for i, d in enumerate(WEEKDAYS)]
    )
    start_time = TimeField(
        "Start time (group's local time)", validators=[InputRequired("Pick a time.")]
    )
    duration_minutes = bounded_int(
        "Duration in minutes", 15, 240, "Duration", default=90, unit=" minutes"
    )
    session_count = bounded_int("Number of sessions", 1, 52, "The number of sessions", default=10)


class ModuleForm(FlaskForm):
    title = StringField("Module title", validators=[InputRequired(), Length(max=120)])
    purpose = StringField("Purpose", validators=[Optional(), Length(max=300)])


class EnrollForm(FlaskForm):
    """Enroll an existing member by email: providers never browse the practice's member list."""

    email = EmailField("Member's email", validators=[InputRequired(), Length(max=254)])


class ReasonForm(FlaskForm):
    reason = StringField("Reason", validators=[InputRequired("Give a reason."), Length(max=200)])


class DateTimeForm(FlaskForm):
    date = DateField("Date", validators=[InputRequired("Pick a date.")])
    time = TimeField("Start time (group's local time)", validators=[InputRequired("Pick a time.")])


class MakeupForm(DateTimeForm):
    duration_minutes = bounded_int(
        "Duration in minutes", 15, 240, "Duration", default=90, unit=" minutes"
    )


class ClosureForm(FlaskForm):
    date = DateField("Date", validators=[InputRequired("Pick a date.")])
    reason = StringField("Reason (e.g. holiday)", validators=[Optional(), Length(max=120)])


class ExportForm(FlaskForm):
    """A calendar export: a GET form (no CSRF), as a download changes nothing."""

    class Meta:
        csrf = False

    what = SelectField("Calendar of", validate_choice=False)
    start = DateField("From", validators=[InputRequired("Pick the first day.")])
    end = DateField("To (inclusive)", validators=[InputRequired("Pick the last day.")])


class FeedSettingsForm(FlaskForm):
    show_group_names = BooleanField("Show my group's name in my calendar")
