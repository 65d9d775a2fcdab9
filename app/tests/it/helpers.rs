//! What the tests of every area share: accounts, a team, an incident to report, acting at the
//! current version, and reading back what the database holds.

use app::{
    audit::{
        store::{self as audit_store, Cursor, Query},
        AuditEntry,
    },
    auth::{password::PasswordHasher, ClientInfo, Role},
    db::Db,
    error::AppError,
    users::bootstrap::{self, CliUser},
    workflow::{
        engine::{self, Moved},
        input::{Channel, GateInput, NewIncident, Severity, UserConfirmation},
        rules::Actor,
    },
};
use chrono::Utc;
use sqlx::Row;

/// A password meeting the policy, used for every test account.
pub const PASSWORD: &str = "correct horse battery";

/// A request from `addr`.
pub fn client(addr: &str) -> ClientInfo {
    ClientInfo { addr: addr.into(), user_agent: "test".into() }
}

/// An account to create: by default named by its username, at `<username>@example.com`, reading
/// English, with [`PASSWORD`], and acting from an unknown client.
pub struct Person {
    fields: CliUser,
    client: ClientInfo,
}

impl Person {
    pub fn new(username: &str, roles: &[Role]) -> Self {
        let fields = CliUser {
            username: username.into(),
            display_name: username.into(),
            email: format!("{username}@example.com"),
            language: "en".into(),
            roles: roles.to_vec(),
            password: PASSWORD.into(),
            must_change: false,
        };
        Self { fields, client: ClientInfo::default() }
    }

    pub fn username(&self) -> &str {
        &self.fields.username
    }

    pub fn display_name(mut self, display_name: impl Into<String>) -> Self {
        self.fields.display_name = display_name.into();
        self
    }

    pub fn email(mut self, email: &str) -> Self {
        self.fields.email = email.into();
        self
    }

    pub fn language(mut self, language: &str) -> Self {
        self.fields.language = language.into();
        self
    }

    /// Where the person's actions come from, as the audit log records it.
    pub fn client(mut self, client: ClientInfo) -> Self {
        self.client = client;
        self
    }

    /// Creates the account; returns the person as the engine sees them.
    pub async fn create(self, db: &Db) -> Actor {
        let Self { fields, client } = self;
        let (name, roles) = (fields.username.clone(), fields.roles.clone());
        let id = bootstrap::create_user(db, &PasswordHasher::new(1), fields).await.unwrap();
        Actor { id, roles, name, client }
    }
}

/// Creates an account as [`Person::new`] describes it.
pub async fn person(db: &Db, username: &str, roles: &[Role]) -> Actor {
    Person::new(username, roles).create(db).await
}

/// One person per role, and a second dev who is never named on the incidents.
pub struct Team {
    pub ops: Actor,
    pub pm: Actor,
    pub dev: Actor,
    pub qa: Actor,
    pub other_dev: Actor,
}

impl Team {
    /// Creates ops1, pm1, dev1, qa1 and dev2, in that order, each adjusted by `adjust`.
    pub async fn create(db: &Db, adjust: impl Fn(Person) -> Person) -> Self {
        let make = |username: &str, role: Role| adjust(Person::new(username, &[role])).create(db);
        Self {
            ops: make("ops1", Role::Ops).await,
            pm: make("pm1", Role::Pm).await,
            dev: make("dev1", Role::Dev).await,
            qa: make("qa1", Role::Qa).await,
            other_dev: make("dev2", Role::Dev).await,
        }
    }
}

/// The team with every account as [`Person::new`] describes it.
pub async fn team(db: &Db) -> Team {
    Team::create(db, |p| p).await
}

/// A P1 report by email, with markup in its description and a reporter writing in Chinese.
/// The current minute in UTC as a form sends a time (`2026-12-01T10:45`): a release deployed
/// just now, after the incident was reported.
pub fn this_minute() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M").to_string()
}

pub fn incident(title: &str) -> NewIncident {
    NewIncident {
        title: title.into(),
        description: "Checkout fails with error 500 <b>since</b> 10:00".into(),
        severity: Severity::P1,
        channel: Channel::Email,
        reporter_name: "王小明".into(),
        reporter_contact: "xm@example.com".into(),
        external_ref: "TICKET-7".into(),
    }
}

/// The incident's current version.
pub async fn version(db: &Db, id: i64) -> i64 {
    app::on_db!(db, pool => sqlx::query("SELECT version FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
        .get::<i64, _>(0))
}

/// The incident's key.
pub async fn key_of(db: &Db, id: i64) -> String {
    app::on_db!(db, pool => sqlx::query("SELECT key FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
        .get::<String, _>(0))
}

/// Takes an action at the incident's current version.
pub async fn step(db: &Db, who: &Actor, id: i64, input: GateInput) -> Result<Moved, AppError> {
    let v = version(db, id).await;
    engine::act(db, who, id, v, &input, Utc::now()).await
}

/// The number a `SELECT COUNT(*) ...` query answers.
pub async fn count(db: &Db, sql: &str) -> i64 {
    app::on_db!(db, pool => sqlx::query(sql).fetch_one(pool).await.unwrap().get::<i64, _>(0))
}

/// The whole audit log, oldest entry first.
pub async fn audit_entries(db: &Db) -> Vec<AuditEntry> {
    audit_store::page(db, &Query::default(), Cursor::After(0), 100_000).await.unwrap()
}

/// Walks a new incident to `reporting` (one failed test on the way); returns its id.
pub async fn walk_to_reporting(db: &Db, t: &Team, title: &str) -> i64 {
    let id = engine::create_incident(db, &t.ops, &incident(title), Utc::now()).await.unwrap().id;
    let released = this_minute();
    let steps: Vec<(&Actor, GateInput)> = vec![
        (&t.ops, GateInput::TriageTechnical { pm_id: t.pm.id, note: String::new() }),
        (&t.pm, GateInput::Dispatch { dev_id: t.dev.id, qa_id: t.qa.id, note: String::new() }),
        (&t.dev, GateInput::Propose { root_cause: "价格字段为空".into(), solution: "默认价格为 0".into() }),
        (&t.pm, GateInput::VerdictPm { optimal: true, pool: None }),
        (&t.dev, GateInput::VerdictDev { optimal: true }),
        (&t.dev, GateInput::SubmitForTest { changes: "guard".into(), reference: "PR #12".into() }),
        (&t.qa, GateInput::TestFail { defect: "still 500".into() }),
        (&t.dev, GateInput::SubmitForTest { changes: "guard 2".into(), reference: "PR #13".into() }),
        (&t.qa, GateInput::TestPass { notes: "ok".into() }),
        (&t.pm, GateInput::ApproveRelease { note: String::new() }),
        (&t.dev, GateInput::MarkReleased { version: "2.4.1".into(), deployed_at: released.clone() }),
        (&t.qa, GateInput::RegressionPass { notes: "生产环境正常".into() }),
        (&t.ops, GateInput::ConfirmFollowup { reply: "已修复".into(), confirmation: UserConfirmation::Confirmed }),
    ];
    for (who, input) in steps {
        step(db, who, id, input).await.unwrap();
    }
    id
}
