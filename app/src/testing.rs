//! Test support: a fresh database per test on each back end.
//!
//! [`db_test!`](crate::db_test) turns one async test body into two tests, `<name>::sqlite` and
//! `<name>::postgres`, so the test output names both back ends. SQLite runs in a temporary file;
//! PostgreSQL in a new database created on the server named by `TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards. When PostgreSQL cannot be
//! reached the PostgreSQL half fails if `CI` is set, and otherwise skips where it cannot be missed:
//! see [`run_on`].

use std::{
    future::Future,
    io::Write,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Once, OnceLock,
    },
};

use sqlx::{Connection, Executor, PgConnection};

use crate::{
    config::{Backend, DatabaseUrl},
    db::Db,
};

/// Server used for PostgreSQL tests when `TEST_POSTGRES_URL` is not set.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One migrated, empty database that exists for the life of a test.
pub struct TestDb {
    /// Pool to the database.
    pub db: Db,
    /// URL of the database, for starting a server process or a second pool on it.
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

/// Why a test database could not be made.
#[derive(Debug)]
pub enum TestDbError {
    /// PostgreSQL is not reachable at the configured URL.
    PostgresUnreachable(String),
    /// Anything else (a real failure).
    Other(String),
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_TEST_POSTGRES_URL.into())
}

/// Replaces the database name (the URL path) of a PostgreSQL URL.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl TestDb {
    /// Creates and migrates a fresh database on `backend`.
    pub async fn create(backend: Backend) -> Result<Self, TestDbError> {
        Self::create_until(backend, None).await
    }

    /// Creates a fresh database on `backend` with the migrations up to `until` applied (all of
    /// them for `None`), for tests of a migration on data written before it.
    pub async fn create_until(backend: Backend, until: Option<i64>) -> Result<Self, TestDbError> {
        let migrate = |db: Db| async move {
            match until {
                Some(version) => db.migrate_until(version).await,
                None => db.migrate().await,
            }
            .map_err(|e| TestDbError::Other(e.to_string()))?;
            Ok::<_, TestDbError>(db)
        };
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().map_err(|e| TestDbError::Other(e.to_string()))?;
                let url = DatabaseUrl::sqlite_in(dir.path());
                let db = migrate(Db::connect(&url).await.map_err(|e| TestDbError::Other(e.to_string()))?).await?;
                Ok(Self { db, url, cleanup: Cleanup::Sqlite(dir) })
            }
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                let mut admin = PgConnection::connect(&admin_url).await.map_err(|e| {
                    TestDbError::PostgresUnreachable(format!(
                        "{}: {e}",
                        DatabaseUrl::parse(&admin_url).map(|u| u.masked()).unwrap_or_default()
                    ))
                })?;
                let name = format!("baton_test_{}", uuid::Uuid::new_v4().simple());
                admin
                    .execute(format!("CREATE DATABASE \"{name}\"").as_str())
                    .await
                    .map_err(|e| TestDbError::Other(e.to_string()))?;
                let _ = admin.close().await;
                let url = DatabaseUrl::parse(&with_database(&admin_url, &name)).map_err(TestDbError::Other)?;
                let db = migrate(Db::connect(&url).await.map_err(|e| TestDbError::Other(e.to_string()))?).await?;
                Ok(Self { db, url, cleanup: Cleanup::Postgres { admin_url, name } })
            }
        }
    }

    /// Closes the pool and removes the database.
    pub async fn destroy(self) {
        self.db.close().await;
        match self.cleanup {
            Cleanup::Sqlite(dir) => drop(dir),
            Cleanup::Postgres { admin_url, name } => {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = admin.execute(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str()).await;
                    let _ = admin.close().await;
                }
            }
        }
    }
}

/// Why PostgreSQL could not be reached, once a test of this test binary has skipped for it.
static UNREACHABLE: OnceLock<String> = OnceLock::new();
/// PostgreSQL tests of this test binary skipped so far.
static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// Writes straight to the process's standard error. The test harness captures what `eprintln!`
/// prints and shows it only for failing tests, but a skipped test passes.
fn tell(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Says that a PostgreSQL test skipped: before the first skip a banner naming the server and the
/// fix, a line per skipped test, and the number skipped when the test binary exits.
fn report_skip(why: &str) {
    static FIRST: Once = Once::new();
    FIRST.call_once(|| {
        let why = UNREACHABLE.get_or_init(|| why.to_owned());
        let rule = "=".repeat(100);
        tell(&format!(
            "\n{rule}\nPostgreSQL unreachable at {why}\nEvery postgres test in this run is SKIPPED and shows as ok: \
             set TEST_POSTGRES_URL or start PostgreSQL.\n{rule}\n"
        ));
        // SAFETY: `atexit` only records the function; `summary` neither unwinds nor exits.
        unsafe {
            atexit(summary);
        }
    });
    SKIPPED.fetch_add(1, Ordering::Relaxed);
    let thread = std::thread::current();
    let test = thread.name().filter(|name| *name != "main").unwrap_or("a database test");
    tell(&format!("SKIPPED on postgres: {test}\n"));
}

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

/// Runs when the test binary exits, after the harness's own summary line.
extern "C" fn summary() {
    if let Some(why) = UNREACHABLE.get() {
        let n = SKIPPED.load(Ordering::Relaxed);
        let tests = if n == 1 { "test" } else { "tests" };
        let rule = "=".repeat(100);
        tell(&format!(
            "\n{rule}\n{n} postgres {tests} SKIPPED: PostgreSQL unreachable at {why} \
             (set TEST_POSTGRES_URL or start PostgreSQL)\n{rule}\n"
        ));
    }
}

/// Runs `test` against a fresh database on `backend`, then removes the database, also when the
/// test panics (the panic is passed on afterwards).
///
/// When PostgreSQL cannot be reached, a PostgreSQL test fails if `CI` is set. Otherwise it returns
/// at once (the harness counts it as passed) and says so on the terminal, past the harness's
/// output capture: a banner before the first skip, one line per skipped test, and the number
/// skipped when the test binary exits.
pub async fn run_on<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(TestContext) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let test_db = match TestDb::create(backend).await {
        Ok(db) => db,
        Err(TestDbError::PostgresUnreachable(why)) => {
            if std::env::var_os("CI").is_some() {
                panic!("PostgreSQL is unreachable and CI is set, so this test fails instead of skipping: {why}");
            }
            report_skip(&why);
            return;
        }
        Err(TestDbError::Other(why)) => panic!("cannot create a {backend} test database: {why}"),
    };
    let ctx = TestContext { db: test_db.db.clone(), url: test_db.url.clone() };
    // Run the body as its own task so a panic is caught and the database still gets dropped.
    let outcome = tokio::spawn(AssertUnwindSafe(test(ctx))).await;
    test_db.destroy().await;
    if let Err(err) = outcome {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
        panic!("test task failed: {err}");
    }
}

/// What a test body receives.
#[derive(Clone, Debug)]
pub struct TestContext {
    /// Pool to the fresh database.
    pub db: Db,
    /// Its URL.
    pub url: DatabaseUrl,
}

/// Declares one database test that runs on both back ends, as `<name>::sqlite` and
/// `<name>::postgres`.
///
/// ```text
/// db_test!(async fn settings_round_trip(ctx) { /* use ctx.db */ });
/// ```
#[macro_export]
macro_rules! db_test {
    ($(#[$meta:meta])* async fn $name:ident($ctx:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::testing::run_on($crate::config::Backend::Sqlite, |$ctx| async move $body).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::testing::run_on($crate::config::Backend::Postgres, |$ctx| async move $body).await
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_keeping_credentials_and_options() {
        assert_eq!(with_database("postgres://u:p@h:5432/postgres", "x"), "postgres://u:p@h:5432/x");
        assert_eq!(with_database("postgres://h/postgres?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
        assert_eq!(with_database("postgres://h:5432", "x"), "postgres://h:5432/x");
    }
}
