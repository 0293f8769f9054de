"""The clinical record: group notes, member progress notes, addenda and charge lines.

Also the two columns they draw on: an enrollment's ICD-10-CM diagnosis codes
and a provider's NPI. Both default to empty, so existing rows stay valid
until staff fill them in. Frozen copies of the models as they were at this
migration; clinical rows refer to sessions and people with RESTRICT, so no
deletion can take a signed record along.
"""

from peewee import *

# The enrollment column is added with plain SQL: playhouse's SQLite migrator
# adds a NOT NULL column by rebuilding the table, and a rebuild drops the
# calendar change triggers migration 0003 put on enrollment. Both databases
# add a NOT NULL column with a constant default in place.
ADD_DIAGNOSES = (
    """ALTER TABLE "enrollment" ADD COLUMN "diagnosis_codes" VARCHAR(255) NOT NULL DEFAULT ''"""
)
DROP_DIAGNOSES = 'ALTER TABLE "enrollment" DROP COLUMN "diagnosis_codes"'


def _models(db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Session(Model):
        class Meta:
            database = db
            table_name = "group_session"

    class GroupNote(Model):
        session = ForeignKeyField(Session, unique=True, on_delete="RESTRICT")
        module_title = CharField(default="")
        intervention_keys = CharField(default="")
        interventions_other = TextField(default="")
        themes = TextField(default="")
        group_process = TextField(default="")
        started_at = DateTimeField()
        ended_at = DateTimeField()
        modality = CharField()
        present_count = IntegerField(default=0)
        status = CharField(default="draft")
        author = ForeignKeyField(User, on_delete="RESTRICT")
        created_at = DateTimeField()
        updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        updated_at = DateTimeField()
        signed_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
        signed_at = DateTimeField(null=True)
        signature_name = CharField(default="")

        class Meta:
            database = db
            table_name = "group_note"

    class MemberNote(Model):
        session = ForeignKeyField(Session, on_delete="RESTRICT")
        member = ForeignKeyField(User, on_delete="RESTRICT")
        participation = CharField(default="")
        response = CharField(default="")
        progress = CharField(default="")
        observations = TextField(default="")
        risk_level = CharField(default="none")
        risk_text = TextField(default="")
        plan = TextField(default="")
        scores_snapshot = TextField(default="[]")
        status = CharField(default="draft")
        author = ForeignKeyField(User, on_delete="RESTRICT")
        created_at = DateTimeField()
        updated_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        updated_at = DateTimeField()
        signed_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
        signed_at = DateTimeField(null=True)
        signature_name = CharField(default="")
        cosigned_by = ForeignKeyField(User, null=True, on_delete="RESTRICT")
        cosigned_at = DateTimeField(null=True)
        cosignature_name = CharField(default="")
        name_check_reason = TextField(default="")

        class Meta:
            database = db
            table_name = "member_note"
            indexes = ((("session", "member"), True), (("member", "session"), False))

    class NoteAddendum(Model):
        group_note = ForeignKeyField(GroupNote, null=True, on_delete="RESTRICT")
        member_note = ForeignKeyField(MemberNote, null=True, on_delete="RESTRICT")
        text = TextField()
        signed_by = ForeignKeyField(User, on_delete="RESTRICT")
        signed_at = DateTimeField()
        signature_name = CharField()

        class Meta:
            database = db
            table_name = "note_addendum"

    class ChargeLine(Model):
        member_note = ForeignKeyField(MemberNote, unique=True, on_delete="RESTRICT")
        session = ForeignKeyField(Session, on_delete="RESTRICT")
        member = ForeignKeyField(User, on_delete="RESTRICT")
        date_of_service = DateField(index=True)
        diagnosis_codes = CharField()
        cpt = CharField()
        modifiers = CharField(default="")
        place_of_service = CharField()
        units = IntegerField(default=1)
        rendering_provider = ForeignKeyField(User, on_delete="RESTRICT")
        rendering_npi = CharField(default="")
        note_signed_at = DateTimeField()
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "charge_line"

    return [GroupNote, MemberNote, NoteAddendum, ChargeLine]


def up(migrator, db):
    migrator.migrate(migrator.add_column("user", "npi", CharField(null=True)))
    db.execute_sql(ADD_DIAGNOSES)
    db.create_tables(_models(db))


def down(migrator, db):
    db.drop_tables(list(reversed(_models(db))))
    db.execute_sql(DROP_DIAGNOSES)
    migrator.migrate(migrator.drop_column("user", "npi"))
