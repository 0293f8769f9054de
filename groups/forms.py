"""Flask-WTF forms shared by several views. Every form carries ``csrf_token``."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length, ValidationError

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
        "Role", choices=[("member", "Member"), ("provider", "Provider"), ("admin", "Admin")]
    )
    timezone = TimezoneField()


class MemberAccountForm(FlaskForm):
    """A provider creating a member on the spot (the role is fixed)."""

    name = StringField("Full name", validators=[InputRequired(), Length(max=120)])
    email = EmailField(
        "Email", validators=[InputRequired(), Email("Enter a valid email."), Length(max=254)]
    )
    timezone = TimezoneField()
