//! What users set for themselves.

use chrono::{DateTime, Utc};

use super::store;
use crate::{
    audit::{
        event,
        store::{Origin, Record},
    },
    auth::{ClientInfo, CurrentUser},
    db::Db,
    error::{AppError, FieldProblem},
    i18n::Locale,
};

/// Stores the language a signed-in user switched the interface to as their preferred one, so
/// the emails and reports they receive come in the language they work in. Audited like an
/// admin's change of the same field; nothing is written when it is unchanged.
pub async fn set_own_language(
    db: &Db,
    user: &CurrentUser,
    client: &ClientInfo,
    language: Locale,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let before = user.me.language;
    if before == language {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    store::set_language(&mut tx, user.me.id, language, now).await?;
    Record::new(&Origin::of(user, client), event::USER_UPDATED)
        .target("user", &user.me.username)
        .details(serde_json::json!({ "before": { "language": before.tag() }, "after": { "language": language.tag() } }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Stores the time zone a user chose for themselves (an IANA name; empty: automatic), audited.
/// An unknown zone is refused and changes nothing.
pub async fn set_own_time_zone(
    db: &Db,
    user: &CurrentUser,
    client: &ClientInfo,
    zone: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let zone = zone.trim();
    let chosen = if zone.is_empty() {
        None
    } else if crate::clock::zone::is_known(zone) {
        Some(zone)
    } else {
        return Err(AppError::Invalid { field: "time_zone".into(), problem: FieldProblem::InvalidChoice });
    };
    let before = user.me.time_zone.as_deref();
    if before == chosen {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    store::set_time_zone(&mut tx, user.me.id, chosen, now).await?;
    Record::new(&Origin::of(user, client), event::USER_UPDATED)
        .target("user", &user.me.username)
        .details(serde_json::json!({ "before": { "time_zone": before }, "after": { "time_zone": chosen } }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}
