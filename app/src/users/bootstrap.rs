//! Accounts made outside the browser: the first admin, demo users, and the operator commands.

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use super::{
    store::{self, NewUser, UserWriteError},
    validate,
};
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    auth::{
        password::{check_policy, generate_password, PasswordHasher},
        sessions::{self, EndReason},
        Role,
    },
    db::Db,
    error::AppError,
    i18n::Locale,
};

/// Records a user created outside the browser, inside its transaction.
async fn record_created(
    tx: &mut crate::db::WriteTx,
    part: &str,
    id: i64,
    user: &NewUser,
    now: chrono::DateTime<Utc>,
) -> Result<(), AppError> {
    let roles: Vec<_> = user.roles.iter().map(|r| r.as_str()).collect();
    Record::new(&Origin::system(part), event::USER_CREATED)
        .target("user", &user.username)
        .details(serde_json::json!({ "after": {
            "id": id,
            "display_name": user.display_name,
            "email": user.email,
            "language": user.language.tag(),
            "roles": roles,
        }}))
        .append(tx, now)
        .await?;
    Ok(())
}

/// On a database without users, creates `admin` with a random one-time password that must be
/// changed at first sign-in. Returns the password so the caller can show it once, on the
/// terminal: never log it.
pub async fn ensure_first_admin(db: &Db, hasher: &PasswordHasher) -> Result<Option<SecretString>, AppError> {
    if store::count(db).await? > 0 {
        return Ok(None);
    }
    let password = generate_password();
    let user = NewUser {
        username: "admin".into(),
        display_name: "Administrator".into(),
        email: "admin@localhost.invalid".into(),
        language: Locale::En,
        roles: vec![Role::Admin],
        password_hash: hasher.hash(password.clone()).await?,
        must_change_password: true,
    };
    let mut tx = db.begin_write().await?;
    let now = Utc::now();
    match store::create(&mut tx, &user, now).await {
        Ok(id) => record_created(&mut tx, "first-admin", id, &user, now).await?,
        // Another instance created it first: nothing to print here.
        Err(UserWriteError::UsernameTaken) => return Ok(None),
        Err(UserWriteError::Db(e)) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(Some(password))
}

/// A demo account and its fresh password.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    /// Username (the role's name).
    pub username: String,
    /// Password set just now, printed for the demo on purpose (a demo has nothing to protect).
    pub password: String,
    /// The one role it holds.
    pub role: Role,
}

/// Demo mode: one user per role (`ops`, `pm`, `dev`, `qa`, `admin`), created if missing, each
/// given a fresh random password that is returned for printing.
pub async fn seed_demo_users(db: &Db, hasher: &PasswordHasher) -> Result<Vec<DemoAccount>, AppError> {
    let mut accounts = Vec::new();
    for role in Role::ALL {
        let username = role.as_str().to_owned();
        let password = generate_password();
        let hash = hasher.hash(password.clone()).await?;
        let now = Utc::now();
        let mut tx = db.begin_write().await?;
        match store::id_by_username(db, &username).await? {
            Some(id) => {
                store::set_password(&mut tx, id, &hash, false, now).await?;
                store::set_roles(&mut tx, id, &[role]).await?;
                store::set_active(&mut tx, id, true, now).await?;
                Record::new(&Origin::system("demo"), event::USER_PASSWORD_RESET)
                    .target("user", &username)
                    .details(serde_json::json!({ "roles": [role.as_str()], "active": true }))
                    .append(&mut tx, now)
                    .await?;
            }
            None => {
                let user = NewUser {
                    username: username.clone(),
                    display_name: format!("Demo {}", role.as_str().to_uppercase()),
                    email: format!("{username}@demo.invalid"),
                    language: Locale::En,
                    roles: vec![role],
                    password_hash: hash,
                    must_change_password: false,
                };
                let id = store::create(&mut tx, &user, now).await.map_err(|e| match e {
                    UserWriteError::UsernameTaken => AppError::internal("demo user created concurrently"),
                    UserWriteError::Db(e) => e.into(),
                })?;
                record_created(&mut tx, "demo", id, &user, now).await?;
            }
        }
        tx.commit().await?;
        accounts.push(DemoAccount { username, password: password.expose_secret().to_owned(), role });
    }
    Ok(accounts)
}

/// Creates a user from the command line. The password must meet the policy; the user must change
/// it at first sign-in unless `must_change` is false.
pub async fn create_user(db: &Db, hasher: &PasswordHasher, fields: CliUser) -> Result<i64, AppError> {
    check_policy(fields.password.expose_secret(), &fields.username).map_err(|p| AppError::invalid("password", p))?;
    let user = NewUser {
        username: validate::username(&fields.username)?,
        display_name: validate::display_name(&fields.display_name)?,
        email: validate::email(&fields.email)?,
        language: validate::language(&fields.language)?,
        roles: fields.roles,
        password_hash: hasher.hash(fields.password).await?,
        must_change_password: fields.must_change,
    };
    let mut tx = db.begin_write().await?;
    let now = Utc::now();
    let id = store::create(&mut tx, &user, now).await.map_err(|e| match e {
        UserWriteError::UsernameTaken => AppError::invalid("username", crate::error::FieldProblem::UsernameTaken),
        UserWriteError::Db(e) => e.into(),
    })?;
    record_created(&mut tx, "cli", id, &user, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// A user as given on the command line.
#[derive(Debug, Clone)]
pub struct CliUser {
    /// Login name.
    pub username: String,
    /// Name shown to others.
    pub display_name: String,
    /// Email address.
    pub email: String,
    /// `en` or `zh-CN`.
    pub language: String,
    /// Roles held.
    pub roles: Vec<Role>,
    /// Initial password.
    pub password: SecretString,
    /// Must change the password at first sign-in.
    pub must_change: bool,
}

/// Sets a new password for `username` from the command line (must be changed at next sign-in)
/// and ends their sessions.
pub async fn reset_password(
    db: &Db,
    hasher: &PasswordHasher,
    username: &str,
    password: SecretString,
) -> Result<(), AppError> {
    check_policy(password.expose_secret(), username).map_err(|p| AppError::invalid("password", p))?;
    let id = store::id_by_username(db, username).await?.ok_or(AppError::NotFound)?;
    let hash = hasher.hash(password).await?;
    let now = Utc::now();
    let mut tx = db.begin_write().await?;
    store::set_password(&mut tx, id, &hash, true, now).await?;
    let ended = sessions::end_all_of(&mut tx, id, None, EndReason::PasswordChanged, now).await?;
    Record::new(&Origin::system("cli"), event::USER_PASSWORD_RESET)
        .target("user", username)
        .details(serde_json::json!({ "must_change_password": true, "sessions_ended": ended }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}
