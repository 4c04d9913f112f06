"""CSV import of contacts: header-driven, streamed in batches, bad rows reported, good rows kept.

The file is read as a stream (``io.TextIOWrapper`` over the upload) and written
in batches of ``BATCH_SIZE`` rows with one upsert each (``INSERT … ON CONFLICT
(tenant, phone_number) DO UPDATE``), so 100,000 rows never sit in memory and a
re-import updates instead of duplicating. Row numbers count the header as row 1.

Columns (header names are case-insensitive; spaces and dashes read as ``_``):
``phone_number`` (required; also ``phone``, ``mobile``), ``first_name``,
``last_name``, ``email``, ``timezone``, ``tags`` (separated by ``;``),
``consent_status`` (granted/revoked/unknown, or yes/no), ``consent_source``,
``consent_at`` (ISO 8601), ``consent_text``. Any other column is a custom field.
An empty cell never clears a value a contact already has.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from psycopg2.extras import execute_values

from compliance.services import consent_status_changed
from tenants.models import Tenant

from .models import ConsentStatus, Contact, Tag
from .phone import InvalidPhoneNumber, phone_normalize_with_zone, timezone_is_valid

BATCH_SIZE = 2000
CHECK_CHUNK = 1 << 20
STANDARD_COLUMNS = (
    "phone_number",
    "first_name",
    "last_name",
    "email",
    "timezone",
    "tags",
    "consent_status",
    "consent_source",
    "consent_at",
    "consent_text",
)
ALIASES = {
    "phone": "phone_number",
    "mobile": "phone_number",
    "mobile_number": "phone_number",
    "phonenumber": "phone_number",
    "number": "phone_number",
    "firstname": "first_name",
    "given_name": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "family_name": "last_name",
    "e_mail": "email",
    "tag": "tags",
    "time_zone": "timezone",
    "consent": "consent_status",
}
CONSENT_WORDS = {
    "granted": ConsentStatus.GRANTED,
    "yes": ConsentStatus.GRANTED,
    "y": ConsentStatus.GRANTED,
    "true": ConsentStatus.GRANTED,
    "1": ConsentStatus.GRANTED,
    "opted_in": ConsentStatus.GRANTED,
    "revoked": ConsentStatus.REVOKED,
    "no": ConsentStatus.REVOKED,
    "n": ConsentStatus.REVOKED,
    "false": ConsentStatus.REVOKED,
    "0": ConsentStatus.REVOKED,
    "opted_out": ConsentStatus.REVOKED,
    "unknown": ConsentStatus.UNKNOWN,
}
MAX_LENGTHS = {"first_name": 100, "last_name": 100, "email": 254, "timezone": 64, "consent_source": 200}
#: Fields an import may write, in the order of the upsert's SET list.
WRITABLE = (
    "first_name",
    "last_name",
    "email",
    "timezone",
    "custom_fields",
    "consent_status",
    "consent_source",
    "consent_at",
    "consent_text",
)


#: Per-connection temporary table the PostgreSQL upsert COPies each batch into.
STAGING_TABLE = "contacts_import_staging"
NEW_CONTACT = {
    "first_name": "",
    "last_name": "",
    "email": "",
    "timezone": "",
    "custom_fields": {},
    "consent_status": ConsentStatus.UNKNOWN,
    "consent_source": "",
    "consent_at": None,
    "consent_text": "",
}


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (not UTF-8, not CSV, no phone column)."""


class ImportFileTooLarge(ImportFileError):
    """The file is over ``CONTACT_IMPORT_MAX_BYTES`` (``limit_bytes``): the API answers 413 naming the limit."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(
            f"The file is larger than the limit of {limit_bytes:,} bytes ({limit_bytes / 1_000_000:g} MB); "
            "split it and import the parts."
        )


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    rows: int = 0
    error_count: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"created": self.created, "updated": self.updated, "errors": self.errors}


@dataclass
class FileInfo:
    delimiter: str
    columns: list[str]
    estimated_rows: int
    size: int = 0  # bytes


def column_name(header: str) -> str:
    name = header.strip().strip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(name, name)


def _sniff_delimiter(header_line: str) -> str:
    """Excel writes ``;`` where the decimal comma is used; tabs come from copy-paste."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def import_file_check(fileobj: IO[bytes]) -> FileInfo:
    """Read the whole file once, in chunks: UTF-8 (a BOM is fine), text, a header with a phone column.

    Leaves the file at its start. Raises ``ImportFileError`` naming the problem.
    """
    max_bytes = getattr(settings, "CONTACT_IMPORT_MAX_BYTES", 200_000_000)
    fileobj.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    first_line = ""
    newlines = 0
    last_byte = b""
    size = 0
    while True:
        chunk = fileobj.read(CHECK_CHUNK)
        if not chunk:
            break
        if not size and chunk[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise ImportFileError(
                "The file is UTF-16 text (Excel's 'Unicode Text'). Save it as 'CSV UTF-8 (Comma delimited)'."
            )
        size += len(chunk)
        if size > max_bytes:
            raise ImportFileTooLarge(max_bytes)
        if b"\x00" in chunk:
            raise ImportFileError("The file is not a CSV text file (it holds binary data).")
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                "The file is not UTF-8 text. Save it as 'CSV UTF-8 (Comma delimited)' and upload it again."
            ) from exc
        if not first_line or "\n" not in first_line:
            first_line += text[: max(0, 4096 - len(first_line))]
        newlines += chunk.count(b"\n")
        last_byte = chunk[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise ImportFileError("The file is not UTF-8 text (it ends in the middle of a character).") from exc
    fileobj.seek(0)
    if size == 0:
        raise ImportFileError("The file is empty.")
    header_line = first_line.splitlines()[0] if first_line.strip() else ""
    if not header_line.strip():
        raise ImportFileError("The first row must be a header row naming the columns.")
    delimiter = _sniff_delimiter(header_line)
    columns = [column_name(c) for c in next(csv.reader([header_line], delimiter=delimiter))]
    if "phone_number" not in columns:
        raise ImportFileError(
            f"The header row needs a phone_number column; it has: {', '.join(c for c in columns if c) or 'nothing'}."
        )
    lines = newlines + (0 if last_byte == b"\n" else 1)
    return FileInfo(delimiter=delimiter, columns=columns, estimated_rows=max(0, lines - 1), size=size)


class _RowError(ValueError):
    pass


def _parse_consent_at(value: str) -> dt.datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise _RowError(f"consent_at {value!r} is not an ISO 8601 date or time.")
        parsed = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, dt.UTC)
    return parsed


class _Importer:
    """One import's state: the tenant's tag ids and the running totals."""

    def __init__(self, tenant: Tenant, columns: list[str], progress: Callable[[ImportResult], None] | None):
        self.tenant = tenant
        self.country = tenant.default_country or "US"
        self.columns = columns
        self.index = {name: i for i, name in reversed(list(enumerate(columns))) if name}
        self.custom = [(name, i) for i, name in enumerate(columns) if name and name not in STANDARD_COLUMNS]
        self.progress = progress
        self.result = ImportResult()
        self.tag_ids: dict[str, int] = dict(Tag.objects.filter(tenant=tenant).values_list("name", "id"))
        # Every writable field: the values written are the contact's own merged with the row's.
        self.update_fields = [*WRITABLE, "updated_at"]
        self.now = timezone.now()

    # Reading one row --------------------------------------------------------

    def _cell(self, row: list[str], name: str) -> str:
        i = self.index.get(name)
        return row[i].strip() if i is not None and i < len(row) else ""

    def parse_row(self, row: list[str]) -> tuple[str, dict, list[str]]:
        """``(e164, values, tags)``; only non-empty cells are in ``values``."""
        try:
            phone, zone = phone_normalize_with_zone(self._cell(row, "phone_number"), default_country=self.country)
        except InvalidPhoneNumber as exc:
            raise _RowError(f"phone_number: {exc}") from None
        values: dict = {}
        for name in ("first_name", "last_name", "email", "timezone", "consent_source", "consent_text"):
            value = self._cell(row, name)
            if not value:
                continue
            limit = MAX_LENGTHS.get(name)
            if limit and len(value) > limit:
                raise _RowError(f"{name} is longer than {limit} characters.")
            values[name] = value
        if "email" in values:
            try:
                validate_email(values["email"])
            except ValidationError:
                raise _RowError(f"email: {values['email']!r} is not an email address.") from None
        if "timezone" in values:
            if not timezone_is_valid(values["timezone"]):
                raise _RowError(f"timezone: {values['timezone']!r} is not an IANA time zone such as America/New_York.")
        elif zone:
            values["derived_timezone"] = zone
        consent = self._cell(row, "consent_status")
        if consent:
            status = CONSENT_WORDS.get(consent.lower().replace(" ", "_").replace("-", "_"))
            if status is None:
                raise _RowError(f"consent_status: {consent!r} is not granted, revoked or unknown.")
            values["consent_status"] = status
        consent_at = self._cell(row, "consent_at")
        if consent_at:
            values["consent_at"] = _parse_consent_at(consent_at)
        custom = {name: row[i].strip() for name, i in self.custom if i < len(row) and row[i].strip()}
        if custom:
            values["custom_fields"] = custom
        tags = []
        for tag in self._cell(row, "tags").split(";"):
            tag = tag.strip()
            if tag:
                if len(tag) > 64:
                    raise _RowError(f"tags: {tag[:20]!r}… is longer than 64 characters.")
                tags.append(tag)
        return phone, values, tags

    # Writing one batch ------------------------------------------------------

    def _merge(self, record: dict, values: dict) -> dict:
        """``record`` (a contact's writable fields) with the row's non-empty ``values`` laid over it."""
        status_before = record["consent_status"]
        for name, value in values.items():
            if name == "custom_fields":
                record["custom_fields"] = {**(record["custom_fields"] or {}), **value}
            elif name == "derived_timezone":
                if not record["timezone"]:
                    record["timezone"] = value
            else:
                record[name] = value
        status = values.get("consent_status")
        if status and status != ConsentStatus.UNKNOWN and status != status_before:
            # A change of consent is dated now unless the file says when; a repeated grant keeps its date.
            if "consent_at" not in values:
                record["consent_at"] = self.now
            if "consent_source" not in values:
                record["consent_source"] = "import"
        return record

    def write_batch(self, batch: dict[str, tuple[int, dict, list[str]]]) -> None:
        """Upsert one batch (phone → (row number, merged values, tags)) in one transaction."""
        if not batch:
            return
        try:
            with transaction.atomic():
                self._write(batch)
        except DatabaseError:
            # Something the row checks missed: find the culprit rows one by one.
            self.tag_ids = dict(Tag.objects.filter(tenant=self.tenant).values_list("name", "id"))
            for phone, item in batch.items():
                try:
                    with transaction.atomic():
                        self._write({phone: item})
                except DatabaseError as exc:
                    self.error(item[0], f"could not be saved: {exc.__class__.__name__}")

    def _write(self, batch: dict[str, tuple[int, dict, list[str]]]) -> None:
        rows = Contact.objects.filter(tenant=self.tenant, phone_number__in=list(batch)).values_list(
            "phone_number", *WRITABLE
        )
        existing = {row[0]: dict(zip(WRITABLE, row[1:], strict=True)) for row in rows}
        before = {phone: record["consent_status"] for phone, record in existing.items()}
        records = [
            (phone, self._merge(existing.get(phone) or dict(NEW_CONTACT, custom_fields={}), values))
            for phone, (_row, values, _tags) in batch.items()
        ]
        ids = self._upsert(records)
        self._write_tags(batch, ids)
        self._consent_changes(records, before, ids)
        self.result.created += len(batch) - len(existing)

    def _consent_changes(self, records: list[tuple[str, dict]], before: dict[str, str], ids: dict[str, int]) -> None:
        """Consent the file changed goes in the consent ledger, as from any door; a revocation also suppresses
        the number (in the batch's transaction: all of the batch or none)."""
        for phone, record in records:
            after = record["consent_status"]
            was = before.get(phone, ConsentStatus.UNKNOWN)
            if after != was and phone in ids:
                contact = Contact(pk=ids[phone], tenant=self.tenant, phone_number=phone, consent_status=after)
                consent_status_changed(tenant=self.tenant, contact=contact, before=was, after=after, source="import")

    def _upsert(self, records: list[tuple[str, dict]]) -> dict[str, int]:
        """Create or update the batch's contacts; returns ``{phone_number: id}``. The batch is COPied into a
        temporary table, then one set-based ``INSERT … SELECT … ON CONFLICT DO UPDATE … RETURNING`` (no per-row
        SQL to build or parse)."""
        table = Contact._meta.db_table
        staging_columns = ["phone_number", *WRITABLE]
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
        for phone, r in records:
            writer.writerow(
                [
                    phone,
                    *(
                        json.dumps(r[c])
                        if c == "custom_fields"
                        else (r[c].isoformat() if r[c] is not None else "")
                        if c == "consent_at"
                        else r[c]
                        for c in WRITABLE
                    ),
                ]
            )
        buffer.seek(0)
        selected = ", ".join(
            "custom_fields::jsonb" if c == "custom_fields" else "consent_at::timestamptz" if c == "consent_at" else c
            for c in staging_columns
        )
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in self.update_fields)
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING_TABLE} "
                f"({', '.join(f'{c} text' for c in staging_columns)})"
            )
            cursor.execute(f"TRUNCATE {STAGING_TABLE}")
            cursor.cursor.copy_expert(f"COPY {STAGING_TABLE} FROM STDIN (FORMAT csv, FORCE_NULL (consent_at))", buffer)
            cursor.execute(
                f"INSERT INTO {table} (tenant_id, {', '.join(staging_columns)}, created_at, updated_at) "  # noqa: S608 - identifiers from model meta
                f"SELECT %s, {selected}, %s, %s FROM {STAGING_TABLE} "
                f"ON CONFLICT (tenant_id, phone_number) DO UPDATE SET {updates} RETURNING phone_number, id",
                [self.tenant.pk, now, now],
            )
            returned = cursor.fetchall()
        return dict(returned)

    def _write_tags(self, batch: dict[str, tuple[int, dict, list[str]]], ids: dict[str, int]) -> None:
        names = {t for _row, _values, tags in batch.values() for t in tags}
        missing = names - self.tag_ids.keys()
        if missing:
            Tag.objects.bulk_create([Tag(tenant=self.tenant, name=n) for n in missing], ignore_conflicts=True)
            self.tag_ids.update(Tag.objects.filter(tenant=self.tenant, name__in=missing).values_list("name", "id"))
        pairs = [(ids[phone], self.tag_ids[t]) for phone, (_row, _values, tags) in batch.items() for t in tags]
        if not pairs:
            return
        through = Contact.tags.through
        sql = f"INSERT INTO {through._meta.db_table} (contact_id, tag_id) VALUES %s ON CONFLICT DO NOTHING"  # noqa: S608
        with connection.cursor() as cursor:
            execute_values(cursor.cursor, sql, pairs, page_size=len(pairs))

    def error(self, row: int, message: str) -> None:
        self.result.error_count += 1
        self.result.errors.append({"row": row, "error": message})


def contacts_import(
    *,
    tenant: Tenant,
    fileobj: IO[bytes],
    batch_size: int = BATCH_SIZE,
    progress: Callable[[ImportResult], None] | None = None,
    max_errors: int | None = None,
) -> ImportResult:
    """Import a CSV of contacts into ``tenant``. Bad rows are reported, good rows go in.

    ``fileobj`` is a binary file. ``progress`` is called after every batch.
    ``max_errors`` caps the errors kept (``error_count`` still counts them all).
    Raises ``ImportFileError`` when the file as a whole is not a UTF-8 CSV.
    """
    info = import_file_check(fileobj)
    text = io.TextIOWrapper(fileobj, encoding="utf-8-sig", newline="")
    try:
        reader = csv.reader(text, delimiter=info.delimiter)
        next(reader)  # the header, already read by the check
        importer = _Importer(tenant, info.columns, progress)
        result = importer.result
        batch: dict[str, tuple[int, dict, list[str]]] = {}
        pending_rows = 0
        for row_number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank lines and Excel's trailing ",,,"
            result.rows += 1
            try:
                phone, values, tags = importer.parse_row(row)
            except _RowError as exc:
                importer.error(row_number, str(exc))
                continue
            if phone in batch:  # the same number twice in one batch: the later row wins, tags add up
                _first_row, earlier, earlier_tags = batch[phone]
                merged = {**earlier, **values}
                if "custom_fields" in earlier and "custom_fields" in values:
                    merged["custom_fields"] = {**earlier["custom_fields"], **values["custom_fields"]}
                batch[phone] = (row_number, merged, earlier_tags + [t for t in tags if t not in earlier_tags])
            else:
                batch[phone] = (row_number, values, tags)
            pending_rows += 1
            if len(batch) >= batch_size:
                _flush(importer, batch, pending_rows)
                batch, pending_rows = {}, 0
        _flush(importer, batch, pending_rows)
    except UnicodeDecodeError as exc:
        raise ImportFileError("The file is not UTF-8 text.") from exc
    except csv.Error as exc:
        raise ImportFileError(f"The file is not a readable CSV: {exc}.") from exc
    finally:
        text.detach()
    if max_errors is not None:
        del result.errors[max_errors:]
    return result


def _flush(importer: _Importer, batch: dict, pending_rows: int) -> None:
    result = importer.result
    created_before, errors_before = result.created, result.error_count
    importer.write_batch(batch)
    saved_rows = pending_rows - (result.error_count - errors_before)
    result.updated += max(0, saved_rows - (result.created - created_before))
    if importer.progress:
        importer.progress(result)
