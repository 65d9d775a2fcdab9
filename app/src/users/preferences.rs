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
    error::AppError,
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
