"""Flask-WTF forms shared by several views. Every form carries ``csrf_token``."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

from flask import request
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.core import UnboundField
from wtforms.validators import (
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from . import audit
from .clinical.codes import parse_icd10, parse_npi
from .clock import practice_today
from .inputs import day_problem, has_control_character
from .models import (
    ALERT_NOTE_MAX,
    CADENCE_LABELS,
    FOCUS_LABELS,
    FOCUSES,
    GROUP_STATUSES,
    MEASURE_CADENCES,
    NOTE_TEXT_MAX,
    PARTICIPATION_LEVELS,
    PROGRESS_LEVELS,
    RESPONSE_LEVELS,
    RISK_LABELS,
    SESSION_NOTE_MAX,
)
from .passwords import MAX_PASSWORD_LENGTH, password_problem
from .services import ServiceError
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


def refuse_control_characters(form, field):
    """Every text field: no control characters (one line), or only line breaks and tabs."""
    if not isinstance(field.data, str):
        return
    if isinstance(field, TextAreaField):
        if has_control_character(field.data, allowed="\t\r\n"):
            raise ValidationError(
                "Remove the control character from the text: only line breaks and tabs "
                "are allowed here."
            )
    elif has_control_character(field.data):
        raise ValidationError(
            "Use one line of plain text: remove the line break, tab or other control character."
        )


class AppForm(FlaskForm):
    """The base of every form in the app: text fields refuse control characters.

    Refused, not silently stripped, so what is saved is exactly what the user
    sees, the same on SQLite and PostgreSQL. tests/test_hostile_input.py
    checks that every form derives from this class.
    """

    class Meta:
        def bind_field(self, form, unbound_field, options):
            field = super().bind_field(form, unbound_field, options)
            if isinstance(field, StringField):
                field.validators = [*field.validators, refuse_control_characters]
            return field

        def wrap_formdata(self, form, formdata):
            wrapped = super().wrap_formdata(form, formdata)
            # Flask-WTF reads a JSON body as form data when no formdata is
            # given. No page posts JSON, and a JSON value need not be a string.
            if wrapped is not formdata and request.is_json:
                return None
            return wrapped

    def values(self) -> dict:
        """The fields' data by name, for a service taking them as keywords."""
        return {name: value for name, value in self.data.items() if name != "csrf_token"}


class DayField(DateField):
    """A date inside the accepted window (groups/inputs.py), else a message next to it."""

    def post_validate(self, form, validation_stopped):
        if not validation_stopped and self.data is not None:
            if problem := day_problem(self.data, self.today()):
                raise ValidationError(problem)

    def today(self):
        """None: any day in the window. Subclasses give a today to bound it ahead."""
        return None


class SessionDayField(DayField):
    """A day for a session: inside the window and at most a few years ahead of today."""

    def today(self):
        return practice_today()


def validate_timezone_field(form, field):
    if not valid_timezone(field.data or ""):
        raise ValidationError("Unknown time zone; use an IANA name like America/Chicago.")


class TimezoneField(StringField):
    """A text field with a datalist of common zones, checked against the zone database."""

    def __init__(self, label="Time zone", validators=None, **kwargs):
        validators = [InputRequired(), validate_timezone_field] + list(validators or [])
        kwargs.setdefault("default", "America/New_York")
        super().__init__(label, validators, **kwargs)


class LoginForm(AppForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField(
        "Password", validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class ForgotPasswordForm(AppForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])


class SetPasswordForm(AppForm):
    password = PasswordField("New password", validators=[InputRequired()])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("password", message="The two passwords differ.")],
    )

    def validate_password(self, field):
        if problem := password_problem(field.data or ""):
            raise ValidationError(problem)


class MemberAccountForm(AppForm):
    """A provider creating a member on the spot (the role is fixed)."""

    name = StringField("Full name", validators=[InputRequired(), Length(max=120)])
    email = EmailField(
        "Email", validators=[InputRequired(), Email("Enter a valid email."), Length(max=254)]
    )
    timezone = TimezoneField()


class UserForm(MemberAccountForm):
    """An admin's form for any account: a member's fields and the role."""

    # SelectChoice, not tuples: WTForms 3.3 deprecates tuples (an error under
    # the suite's filterwarnings) and 3.4 removes them. Member first: the default.
    role = SelectField(
        "Role", choices=[SelectChoice(r, r.title()) for r in ("member", "provider", "admin")]
    )
    npi = StringField(
        "NPI (providers only)",
        description="The 10-digit National Provider Identifier; charge lines carry it.",
        validators=[Optional(), Length(max=20)],
    )

    def validate_npi(self, field):
        if not (field.data or "").strip():
            return
        if self.role.data != "provider":
            raise ValidationError("Only provider accounts carry an NPI; leave it empty.")
        try:
            parse_npi(field.data)
        except ServiceError as error:
            raise ValidationError(error.message) from None


def not_before(other: str, message: str):
    """A validator for the last day of a range: not before the day in field ``other``.

    An empty day on either side passes; whether one is required is its own validator's job.
    """

    def check(form, field):
        first = form[other].data
        if field.data and first and field.data < first:
            raise ValidationError(message)

    return check


LAST_BEFORE_FIRST = "The last day is before the first day."


def validate_location(form, field):
    value = (field.data or "").strip()
    if "://" in value or value.lower().startswith(("www.", "javascript:", "data:")):
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError("A video link must start with http:// or https://.")


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


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes: no Ctrl-click, readable on a phone."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class GroupForm(AppForm):
    name = StringField("Group name", validators=[InputRequired(), Length(max=120)])
    focus = SelectField("Focus", choices=[SelectChoice(f, FOCUS_LABELS[f]) for f in FOCUSES])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    lead = SelectField("Lead provider", coerce=int, validate_choice=True)
    co_facilitators = MultiCheckboxField("Co-facilitators", coerce=int, validate_choice=True)
    capacity = bounded_int("Capacity", 1, 50, "Capacity", default=10)
    format = SelectField(
        "Format",
        choices=[
            SelectChoice("closed", "Closed cohort (enrollment closes once sessions start)"),
            SelectChoice("open", "Open (rolling admission)"),
        ],
    )
    location = StringField(
        "Location", validators=[InputRequired(), Length(max=255), validate_location]
    )
    timezone = TimezoneField()
    status = SelectField("Status", choices=[SelectChoice(s, s.title()) for s in GROUP_STATUSES])


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class ScheduleForm(AppForm):
    """A weekly schedule. "Preview" shows the dates; "Create these sessions" saves them."""

    start_date = SessionDayField("First week starting", validators=[InputRequired("Pick a date.")])
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
    # The "Preview the dates" button: when pressed, nothing is saved.
    preview = SubmitField("Preview the dates")

    @classmethod
    def for_group(cls, group) -> ScheduleForm:
        """The form filled with the group's schedule, or defaults for a first one.

        The defaults: a week from today, on the group's usual weekday (that
        day's weekday when it has none yet), 90 minutes, 10 sessions.
        """
        next_week = group.today() + datetime.timedelta(weeks=1)
        return cls(
            start_date=next_week if group.start_date is None else group.start_date,
            weekday=next_week.weekday() if group.weekday is None else group.weekday,
            start_time=group.start_time,
            duration_minutes=group.duration_minutes or 90,
            session_count=group.session_count or 10,
        )


class ModuleForm(AppForm):
    title = StringField("Module title", validators=[InputRequired(), Length(max=120)])
    purpose = StringField("Purpose", validators=[Optional(), Length(max=300)])


class EnrollForm(AppForm):
    """Enroll an existing member by part of their name or email.

    Posted, never sent in a URL, so a searched name stays out of access logs.
    The field keeps the name ``email``: a full address enrolls at once.
    """

    email = StringField(
        "Member's name or email",
        validators=[
            InputRequired("Type part of the member's name or email."),
            # Three letters at least: a search finds someone, it does not page
            # through the practice's member list.
            Length(3, 254, "Type at least three letters of the name, or the email."),
        ],
    )


class ReasonForm(AppForm):
    reason = StringField("Reason", validators=[InputRequired("Give a reason."), Length(max=200)])


class DateTimeForm(AppForm):
    """A session's new date and time (moving a session; the make-up form adds a duration)."""

    date = SessionDayField("Date", validators=[InputRequired("Pick a date.")])
    time = TimeField("Start time (group's local time)", validators=[InputRequired("Pick a time.")])
    despite_closure = BooleanField(
        "Hold it despite the closure",
        description="Only if the practice is closed that day and the session still takes place.",
    )


class MakeupForm(DateTimeForm):
    duration_minutes = bounded_int(
        "Duration in minutes", 15, 240, "Duration", default=90, unit=" minutes"
    )


class ClosureForm(AppForm):
    date = DayField("Date", validators=[InputRequired("Pick a date.")])
    reason = StringField("Reason (e.g. holiday)", validators=[Optional(), Length(max=120)])


class NoteForm(AppForm):
    """A session's private note; ``version`` is the saved note's, so a save never overwrites
    a newer note unseen."""

    text = TextAreaField(
        "Private note",
        description="What was covered, observations, follow-ups. "
        f"Up to {SESSION_NOTE_MAX:,} characters.",
        render_kw={"maxlength": SESSION_NOTE_MAX, "rows": 10},
    )
    version = HiddenField()


class PacketForm(AppForm):
    """A session's handouts; the service checks the slugs against the library."""

    handouts = SelectMultipleField("Handouts", choices=[], validate_choice=False)
    # The panel's template writes the label with the group's own focus.
    show_focus = BooleanField("Print the group's name and focus in the header of every copy")


# --- The user's own account ----------------------------------------------------


class ProfileForm(AppForm):
    """Own preferences; the view fills ``reminder_hours`` with the practice's lead times."""

    timezone = TimezoneField()
    time_format = SelectField(
        "Clock",
        choices=[
            SelectChoice("12h", "12-hour (6:30 PM)"),
            SelectChoice("24h", "24-hour (18:30)"),
        ],
    )
    remind_sessions = BooleanField("Email me a reminder before each session")
    notify_changes = BooleanField("Email me when a session is cancelled, moved or changes place")
    reminder_hours = SelectField("Send the reminder", coerce=int, validate_choice=True)


class ChangePasswordForm(SetPasswordForm):
    """The new password twice, as when setting one, after the current one."""

    current_password = PasswordField(
        "Current password", validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class PasswordCheckForm(AppForm):
    """Confirms a sensitive change (turning two-factor off, new recovery codes)."""

    password = PasswordField(
        "Your password", validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class CodeForm(AppForm):
    code = StringField(
        "6-digit code from your app",
        validators=[InputRequired("Enter the code."), Length(max=40)],
    )


class LoginCodeForm(AppForm):
    code = StringField(
        "Code from your app, or a recovery code",
        validators=[InputRequired("Enter the code."), Length(max=40)],
    )


class IsoDateField(DayField):
    """A date typed as YYYY-MM-DD, with a message that shows the expected shape."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("Use a date like 2026-01-31.") from None


class AuditFilterForm(AppForm):
    """The audit log's filters: read from the query string, so no CSRF token."""

    class Meta:
        csrf = False

    who = StringField("Who (email contains)", validators=[Optional(), Length(max=254)])
    action = SelectField(
        "Action",
        choices=[SelectChoice("", "Any action")]
        + [SelectChoice(a, a.replace("_", " ")) for a in audit.ACTIONS],
        validate_choice=False,  # an unknown action filters nothing, as an empty one
    )
    day_from = IsoDateField("From", validators=[Optional()], name="from")
    day_to = IsoDateField(
        "To",
        validators=[Optional(), not_before("day_from", "The end date is before the start date.")],
        name="to",
    )


class ExportForm(AppForm):
    """A calendar export: a GET form (no CSRF), as a download changes nothing."""

    class Meta:
        csrf = False

    what = SelectField("Calendar of", validate_choice=False)
    start = DayField("From", validators=[InputRequired("Pick the first day.")])
    end = DayField("To (inclusive)", validators=[InputRequired("Pick the last day.")])


class FeedSettingsForm(AppForm):
    show_group_names = BooleanField("Show my group's name in my calendar")


# --- The clinical record (views/clinical.py) -----------------------------------


def _choices(labels: dict[str, str], blank: str | None = "Choose…") -> list[SelectChoice]:
    first = [SelectChoice("", blank)] if blank is not None else []
    return first + [SelectChoice(key, label) for key, label in labels.items()]


def note_text(label: str, rows: int = 3, **kwargs) -> TextAreaField:
    return TextAreaField(
        label,
        validators=[Optional(), Length(max=NOTE_TEXT_MAX)],
        render_kw={"maxlength": NOTE_TEXT_MAX, "rows": rows},
        **kwargs,
    )


# The kinds of control a Control draws, by the WTForms field class that validates it.
_CONTROL_KINDS = (
    (TextAreaField, "textarea"),
    (SelectField, "select"),
    (BooleanField, "checkbox"),
    (TimeField, "time"),
    (PasswordField, "password"),
    (StringField, "text"),
)


@dataclass(frozen=True)
class Control:
    """A form field drawn from plain data: no form object is built to show it.

    The notes page shows a dozen note blocks of nine fields on every view. Building
    their WTForms forms and rendering them through widgets or template macros was
    most of the page's cost, so the page draws each field with one call to a
    Control, in the markup of the ``field`` macro (templates/_macros.html). The
    WTForms form still validates the POST; ``controls()`` reads the labels and
    limits from it, so both stay one definition.
    """

    name: str
    label: str
    kind: str
    rows: int = 0
    maxlength: int | None = None
    choices: tuple[SelectChoice, ...] = ()

    def __call__(self, prefix: str, shown, hint: str = "", hint_id: str = "", **attrs) -> Markup:
        """The field named ``prefix + name`` with the value and errors ``shown`` (a
        FormState) holds for it; ``hint`` adds a hint under the label, ``hint_id``
        points at one shown elsewhere, ``attrs`` are extra attributes (autocomplete)."""
        id_ = escape(prefix + self.name)
        errors = shown.errors.get(self.name)
        value = shown.values.get(self.name)
        tag = f'id="{id_}" name="{id_}"{self._fixed}'
        for key, text in attrs.items():
            tag += f' {key}="{escape(text)}"'
        if hint:
            hint_id = f"{id_}-hint"
        if errors:
            error_id = f"{id_}-error"
            described = f"{hint_id} {error_id}" if hint_id else error_id
            tag += f' aria-invalid="true" aria-describedby="{described}"'
        elif hint_id:
            tag += f' aria-describedby="{hint_id}"'
        kind = self.kind
        if kind == "textarea":
            control = f"<textarea {tag}>\n{escape(value or '')}</textarea>"
        elif kind == "select":
            control = f"<select {tag}>{self.options(value)}</select>"
        elif kind == "checkbox":
            control = f'<input type="checkbox" {tag} value="y"{" checked" if value else ""}>'
        elif kind == "password":
            control = f'<input type="password" {tag}>'
        else:
            control = f'<input type="{kind}" {tag} value="{escape(value or "")}">'
        label = f'<label for="{id_}">{self._label}</label>'
        if hint:
            label += f'\n  <p class="hint" id="{hint_id}">{escape(hint)}</p>'
        css = "field check-field" if kind == "checkbox" else "field"
        if errors:
            css += " has-error"
        first, second = (control, label) if kind == "checkbox" else (label, control)
        html = f'<div class="{css}">\n  {first}\n  {second}'
        if errors:
            html += f'\n  <p class="error" id="{error_id}">{escape(" ".join(errors))}</p>'
        return Markup(html + "\n</div>")

    @cached_property
    def _label(self) -> str:
        return escape(self.label)

    @cached_property
    def _fixed(self) -> str:
        """The attributes that are the same wherever the control is shown."""
        rows = f' rows="{self.rows}"' if self.rows else ""
        return rows + (f' maxlength="{self.maxlength}"' if self.maxlength else "")

    def options(self, chosen: object) -> str:
        """A select's ``<option>`` elements with ``chosen`` selected."""
        return "".join(
            f"{start} selected{end}" if value == chosen else start + end
            for value, start, end in self._options
        )

    @cached_property
    def _options(self) -> tuple[tuple[object, str, str], ...]:
        # The choices are fixed text: escaped once, not on every page.
        return tuple(
            (c.value, f'<option value="{escape(c.value)}"', f">{escape(c.label)}</option>")
            for c in self.choices
        )


def controls(form_class: type[AppForm]) -> dict[str, Control]:
    """The fields ``form_class`` declares as Controls, read from the class (no form is built)."""
    declared = {}
    for klass in reversed(form_class.__mro__):
        declared.update(vars(klass))
    found = {}
    for name, unbound in declared.items():
        if not isinstance(unbound, UnboundField):
            continue
        kwargs = unbound.kwargs
        render = kwargs.get("render_kw") or {}
        lengths = [v.max for v in kwargs.get("validators") or () if isinstance(v, Length)]
        found[name] = Control(
            name,
            unbound.args[0] if unbound.args else kwargs.get("label", name),
            next(kind for cls, kind in _CONTROL_KINDS if issubclass(unbound.field_class, cls)),
            rows=render.get("rows", 0),
            maxlength=render.get("maxlength") or (lengths[0] if lengths else None),
            choices=tuple(kwargs.get("choices") or ()),
        )
    return found


class GroupNoteForm(AppForm):
    """The group section of the notes page, posted with the prefix ``group``.

    Part of the page's one form: the page's ``NotesForm`` carries the CSRF token.
    """

    class Meta:
        csrf = False

    interventions = MultiCheckboxField("Interventions used", choices=[], validate_choice=False)
    interventions_other = note_text("Other interventions", rows=2)
    themes = note_text("Themes")
    group_process = note_text("Group process")
    start = TimeField("Started at", validators=[Optional()])
    end = TimeField("Ended at", validators=[Optional()])


class MemberNoteForm(AppForm):
    """One member's block on the notes page, posted with the prefix ``member-<id>``."""

    class Meta:
        csrf = False

    participation = SelectField("Participation", choices=_choices(PARTICIPATION_LEVELS))
    response = SelectField("Response to the interventions", choices=_choices(RESPONSE_LEVELS))
    progress = SelectField("Progress toward goals", choices=_choices(PROGRESS_LEVELS))
    observations = note_text("Observations")
    risk_level = SelectField("Risk", choices=_choices(RISK_LABELS, blank=None), default="none")
    risk_text = note_text("Risk details", rows=2)
    plan = note_text("Plan")
    sign = BooleanField("Sign this note", default=True)
    name_check_reason = StringField(
        "Reason to sign it as written", validators=[Optional(), Length(max=300)]
    )


class SignatureForm(AppForm):
    """A signature: the signer's name as on their account, and their password."""

    signature_name = StringField("Type your full name", validators=[Optional(), Length(max=120)])
    password = PasswordField(
        "Your password", validators=[Optional(), Length(max=MAX_PASSWORD_LENGTH)]
    )

    def signature(self) -> dict[str, str]:
        """The typed name and password, as the signing services take them."""
        return {
            "signature_name": self.signature_name.data or "",
            "password": self.password.data or "",
        }


class NotesForm(SignatureForm):
    """The notes page's form: the sections come as prefixed sub-forms.

    Saving a draft needs no signature; "Save and sign" needs both fields,
    which the service checks, so a refused signature keeps what was typed.
    """

    sign_group = BooleanField("Sign the group note", default=True)
    over_limit_ok = BooleanField("I have checked the count of members present")


class AddendumForm(SignatureForm):
    text = note_text("Addendum", rows=3)


class DiagnosesForm(AppForm):
    diagnosis_codes = StringField(
        "Diagnosis codes (ICD-10-CM)",
        description="Primary first; separate several with spaces or commas, e.g. F41.1 F32.1.",
        validators=[Optional(), Length(max=200)],
    )

    def validate_diagnosis_codes(self, field):
        try:
            parse_icd10(field.data or "")
        except ServiceError as error:
            raise ValidationError(error.message) from None


class ChargesExportForm(AppForm):
    start = IsoDateField("First day of service", validators=[InputRequired("Pick the first day.")])
    end = IsoDateField("Last day of service", validators=[InputRequired("Pick the last day.")])
    provider = SelectField("Rendering provider", coerce=int, validate_choice=True)


# ---- Outcomes: answers to measures, safety alerts ---------------------------


class MeasureAnswersForm(AppForm):
    """Answers to one or more measures: a radio group per item, named ``<code>-<item>``.

    The fields are made from the measure files (``for_measures``), so a new
    measure file needs no code. Whether an answer is missing or out of range
    is the measure's own rule (``Measure.validate``, through the outcomes
    service); ``refuse`` puts its verdict next to each item, so the form and
    the CSV import can never disagree about what counts as complete.
    """

    measures: tuple = ()

    @classmethod
    def for_measures(cls, measures, **kwargs):
        fields = {
            cls.item_name(m.code, item.number): RadioField(
                item.text,
                choices=[SelectChoice(str(o.score), o.label) for o in item.options],
                validate_choice=False,
                validators=[Optional()],
            )
            for m in measures
            for item in m.items
        }
        form = type(cls.__name__, (cls,), fields)(**kwargs)
        form.measures = tuple(measures)
        return form

    @staticmethod
    def item_name(code: str, number: int) -> str:
        return f"{code}-{number}"

    def item_field(self, measure, item):
        return self[self.item_name(measure.code, item.number)]

    def answers(self) -> dict[str, dict[int, str | None]]:
        """Measure code -> item number -> the score as sent (None when unanswered)."""
        return {
            m.code: {item.number: self.item_field(m, item).data for item in m.items}
            for m in self.measures
        }

    def refuse(self, problems: dict[str, dict[int, str]]) -> None:
        """Mark each item the service refused (``AnswersRefused.problems``)."""
        for measure in self.measures:
            for number, why in problems.get(measure.code, {}).items():
                if 1 <= number <= len(measure.items):
                    field = self.item_field(measure, measure.item(number))
                    message = (
                        "Please answer this question."
                        if why == "not answered"
                        else "Choose one of the answers shown."
                    )
                    field.errors = [*field.errors, message]
        self.form_errors.append(
            "Nothing was saved. Every question needs an answer: the ones still open are marked."
        )


class CheckInForm(MeasureAnswersForm):
    """A member's check-in: every measure due now, on one page."""


class PaperEntryForm(MeasureAnswersForm):
    """A provider types in a member's answers from the paper form, for one session."""

    member = SelectField("Member", coerce=int, validators=[InputRequired("Choose the member.")])
    # The rules (not in the future, not before the member joined) are the
    # service's, which knows the group's zone and the enrolment.
    completed_on = DayField(
        "Completed on",
        description="The day the member filled in the paper form (the group's time zone).",
        validators=[InputRequired("Give the day the form was filled in.")],
    )


class ResolveAlertForm(AppForm):
    note = TextAreaField(
        "What was done",
        description="The action taken: who spoke with the member, what was agreed, any referral. "
        f"Required; up to {ALERT_NOTE_MAX:,} characters.",
        validators=[
            InputRequired("Write what was done before resolving the alert."),
            Length(max=ALERT_NOTE_MAX),
        ],
        render_kw={"maxlength": ALERT_NOTE_MAX, "rows": 5},
    )


# ---- Outcomes (docs/outcomes.md, "Pages") ---------------------------------------


class MeasurePlanForm(AppForm):
    """A group's measure plan; the measure choices come from the measure files at run time."""

    measures = MultiCheckboxField("Measures", validate_choice=False)
    cadence = RadioField(
        "When members are asked",
        choices=[SelectChoice(c, CADENCE_LABELS[c]) for c in MEASURE_CADENCES],
        validate_choice=False,  # save_plan names an unknown cadence next to the field
    )
    member_sees_history = BooleanField("Members see their own history after checking in")


class OutcomesPeriodForm(AppForm):
    """The practice view's period: a GET form (no CSRF), as reading changes nothing."""

    class Meta:
        csrf = False

    start = IsoDateField("From", validators=[InputRequired("Pick the first day.")], name="from")
    end = IsoDateField(
        "To (inclusive)",
        validators=[InputRequired("Pick the last day."), not_before("start", LAST_BEFORE_FIRST)],
        name="to",
    )


class OutcomesExportForm(AppForm):
    """An outcomes download: GET (no CSRF); an empty day leaves that end of the range open."""

    class Meta:
        csrf = False

    # Own ids: the practice view shows this form beside its period form.
    format = SelectField(
        "File format",
        choices=[SelectChoice("csv", "CSV (spreadsheet)"), SelectChoice("fhir", "FHIR R4 (JSON)")],
        id="export-format",
    )
    start = IsoDateField("From (optional)", validators=[Optional()], name="from", id="export-from")
    end = IsoDateField(
        "To (optional)",
        validators=[Optional(), not_before("start", LAST_BEFORE_FIRST)],
        name="to",
        id="export-to",
    )


@dataclass(frozen=True)
class BlankField:
    """A field of a GET form as an empty page shows it (its id, query name, label and any
    choices), read from the form class so the Outcomes pages build no form on every view."""

    id: str
    name: str
    label: str
    choices: tuple[SelectChoice, ...] = ()


def blank_fields(form_class: type[AppForm]) -> tuple[BlankField, ...]:
    """``form_class``'s fields in declaration order, as ``BlankField``s."""
    unbound = sorted(
        ((attr, f) for attr, f in vars(form_class).items() if isinstance(f, UnboundField)),
        key=lambda pair: pair[1].creation_counter,
    )
    return tuple(
        BlankField(
            f.kwargs.get("id") or f.name or attr,
            f.name or attr,
            f.args[0],
            tuple(f.kwargs.get("choices") or ()),
        )
        for attr, f in unbound
    )


# The empty export form of the group's and the practice's Outcomes pages.
EXPORT_FIELDS = blank_fields(OutcomesExportForm)
