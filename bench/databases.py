"""The bench's databases: one migrated template per engine, fresh clones per target,
a preloaded one for the growth part, and counting what each target stored."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scale import BENCH, OUT, PG_ADMIN_DSN, PG_PREFIX, PYTHON, ROOT, BenchBroken, log


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except Exception:
        return False


def migrations_fingerprint() -> str:
    """Changes when the schema can have changed (a cached 1M-row database is then rebuilt)."""
    digest = hashlib.sha256()
    import django_tasks_db

    tasks_db = Path(django_tasks_db.__file__).parent / "migrations"
    for directory in (ROOT / "django_stripe_portal" / "migrations", tasks_db):
        for path in sorted(directory.glob("*.py")):
            digest.update(path.read_bytes())
    digest.update((BENCH / "benchproject" / "models.py").read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Database:
    engine: str  # "sqlite" or "postgres"
    name: str  # file path or database name

    def env(self) -> dict[str, str]:
        return {"BENCH_DB": self.engine, "BENCH_DB_NAME": self.name}

    def tool(self, *args: str) -> dict[str, Any]:
        """Run ``djtool.py`` against this database; its JSON answer."""
        env = {**os.environ, **self.env(), "DJANGO_SETTINGS_MODULE": "benchproject.settings"}
        done = subprocess.run(
            [PYTHON, str(BENCH / "djtool.py"), *args],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if done.returncode != 0:
            raise BenchBroken(f"djtool {args[0]} on {self.name} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


#: Where each target stores events (Django's default table names of the two models).
STORED_TABLES = {"app": "django_stripe_portal_webhookevent", "floor": "benchproject_floorevent"}


def count_stored(db: Database, table: str, prefix: str) -> tuple[int, int]:
    """(rows, distinct ids) of ``table`` whose ``stripe_id`` starts with ``prefix``."""
    query = (
        f"SELECT count(*), count(DISTINCT stripe_id) FROM {table} "  # noqa: S608 - our names
        f"WHERE substr(stripe_id, 1, {len(prefix)}) = "
    )
    if db.engine == "postgres":
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db.name}") as conn:
            row = conn.execute(query + "%s", (prefix,)).fetchone()  # type: ignore[arg-type]
    else:
        import sqlite3

        with sqlite3.connect(db.name) as conn:
            row = conn.execute(query + "?", (prefix,)).fetchone()
        conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


def _schema_fingerprint(db: Database) -> str:
    """A hash of the tables, columns and indexes of ``db``."""
    if db.engine == "postgres":
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db.name}") as conn:
            rows = conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, "
                "character_maximum_length FROM information_schema.columns "
                "WHERE table_schema = 'public' ORDER BY 1, 2"
            ).fetchall()
            rows += conn.execute(
                "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "ORDER BY 1, 2"
            ).fetchall()
    else:
        import sqlite3

        with sqlite3.connect(db.name) as conn:
            rows = conn.execute(
                "SELECT type, name, coalesce(sql, '') FROM sqlite_master "
                "WHERE name NOT LIKE 'sqlite_%' ORDER BY 1, 2"
            ).fetchall()
        conn.close()
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def _pg_execute(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _pg_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None


class Databases:
    """Fresh databases cloned from one migrated template per engine and run."""

    def __init__(self, engine: str, tag: str) -> None:
        self.engine = engine
        self.tag = tag
        OUT.mkdir(parents=True, exist_ok=True)  # a fresh checkout has none
        fingerprint = migrations_fingerprint()
        # Per tag: the signed-in users' sessions file lives in this checkout's OUT, so two
        # checkouts sharing one PostgreSQL template would log in with each other's cookies.
        self.template = self._make(f"{PG_PREFIX}_template_{tag}_{fingerprint}")
        self.sessions = OUT / f"sessions_{engine}_{tag}_{fingerprint}.json"
        self._created: list[Database] = []
        if not (self._exists(self.template) and self.sessions.exists()):
            log(f"{engine}: migrating a template database (kept while the schema holds)")
            self._drop(self.template)
            self._create_empty(self.template)
            self.template.tool("migrate")
            self.template.tool("users", "--count", "50", "--out", str(self.sessions))

    def _exists(self, db: Database) -> bool:
        return _pg_exists(db.name) if db.engine == "postgres" else Path(db.name).exists()

    def _make(self, name: str) -> Database:
        if self.engine == "postgres":
            return Database("postgres", name)
        return Database("sqlite", str(OUT / f"{name}.sqlite3"))

    def _drop(self, db: Database) -> None:
        if db.engine == "postgres":
            _pg_execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(db.name + suffix).unlink(missing_ok=True)

    def _create_empty(self, db: Database) -> None:
        if db.engine == "postgres":
            _pg_execute(f'CREATE DATABASE "{db.name}"')
        else:
            OUT.mkdir(parents=True, exist_ok=True)

    def fresh(self, role: str) -> Database:
        """A new database named after ``role``, with the schema and nothing else."""
        db = self._make(f"{PG_PREFIX}_{self.tag}_{role}")
        self._drop(db)
        if db.engine == "postgres":
            _pg_execute(f'CREATE DATABASE "{db.name}" TEMPLATE "{self.template.name}"')
        else:
            shutil.copyfile(self.template.name, db.name)
        self._created.append(db)
        return db

    def preloaded(self, rows: int) -> tuple[Database, dict[str, Any]]:
        """A database holding ``rows`` stored events; kept between runs while the schema
        (tables, columns, indexes) is the template's."""
        db = self._make(f"{PG_PREFIX}_preload_{rows}")
        stamp = OUT / f"preload_{self.engine}_{rows}.json"
        schema = _schema_fingerprint(self.template)
        if self._exists(db) and stamp.exists():
            info = json.loads(stamp.read_text())
            if info.get("schema") == schema == _schema_fingerprint(db):
                info["reused"] = True
                return db, info
        log(f"preloading {rows:,} events into {db.name} (kept for later runs)")
        self._drop(db)
        if db.engine == "postgres":
            _pg_execute(f'CREATE DATABASE "{db.name}" TEMPLATE "{self.template.name}"')
        else:
            shutil.copyfile(self.template.name, db.name)
        info = db.tool("preload", "--rows", str(rows))
        info["schema"] = schema
        OUT.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(info))
        info["reused"] = False
        return db, info

    def drop_all(self) -> None:
        for db in self._created:
            self._drop(db)
