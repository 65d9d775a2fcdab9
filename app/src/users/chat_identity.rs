//! A user's chat identities: what chat channels @-mention them by.

use chrono::{DateTime, Utc};

use crate::{db::Db, on_db, on_tx};

/// A user's chat identities (for @-mentions in chat channels).
pub async fn chat_identity(db: &Db, user_id: i64) -> Result<crate::chat::ChatIdentity, crate::error::AppError> {
    let row: Option<(String, String, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT chat_mobile, wecom_userid, feishu_open_id FROM users WHERE id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?);
    let (mobile, wecom_userid, feishu_open_id) = row.ok_or(crate::error::AppError::NotFound)?;
    Ok(crate::chat::ChatIdentity { mobile, wecom_userid, feishu_open_id })
}

/// Checks chat identities: each may be empty; a mobile number is digits (with an optional `+`),
/// a WeCom id letters, digits and `_ . @ -`, a Feishu open_id `ou_` and letters or digits. These
/// values are placed into chat messages as mentions, so nothing else may pass.
pub fn check_chat_identity(
    identity: &crate::chat::ChatIdentity,
) -> Result<crate::chat::ChatIdentity, crate::error::AppError> {
    use crate::error::{AppError, FieldProblem};
    let mobile: String = identity.mobile.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = mobile.strip_prefix('+').unwrap_or(&mobile);
    let mobile_ok = (5..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit());
    if !mobile.is_empty() && !mobile_ok {
        return Err(AppError::invalid("mobile", FieldProblem::NotMobile));
    }
    let wecom = identity.wecom_userid.trim();
    let wecom_ok =
        wecom.len() <= 64 && wecom.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'));
    if !wecom.is_empty() && !wecom_ok {
        return Err(AppError::invalid("wecom_userid", FieldProblem::NotChatId));
    }
    let open_id = identity.feishu_open_id.trim();
    let open_id_ok = open_id.len() <= 64
        && open_id
            .strip_prefix("ou_")
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()));
    if !open_id.is_empty() && !open_id_ok {
        return Err(AppError::invalid("feishu_open_id", FieldProblem::NotOpenId));
    }
    Ok(crate::chat::ChatIdentity { mobile, wecom_userid: wecom.to_owned(), feishu_open_id: open_id.to_owned() })
}

/// Stores a user's chat identities, checked, audited with before and after; nothing is written
/// when nothing changed.
pub async fn set_chat_identity(
    db: &Db,
    origin: &crate::audit::store::Origin,
    user_id: i64,
    username: &str,
    identity: &crate::chat::ChatIdentity,
    now: DateTime<Utc>,
) -> Result<(), crate::error::AppError> {
    let identity = check_chat_identity(identity)?;
    let before = chat_identity(db, user_id).await?;
    if before == identity {
        return Ok(());
    }
    let mut tx = db.begin_write().await?;
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE users SET chat_mobile = $1, wecom_userid = $2, feishu_open_id = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(&identity.mobile)
    .bind(&identity.wecom_userid)
    .bind(&identity.feishu_open_id)
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|_| ()))?;
    crate::audit::store::Record::new(origin, crate::audit::event::USER_UPDATED)
        .target("user", username)
        .details(serde_json::json!({ "before": { "chat": before }, "after": { "chat": identity } }))
        .append(&mut tx, now)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{chat::ChatIdentity, error::AppError};

    fn problem(identity: ChatIdentity) -> Option<String> {
        match check_chat_identity(&identity) {
            Ok(_) => None,
            Err(AppError::Invalid { field, .. }) => Some(field),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn identities_are_checked_and_a_mobile_number_is_kept_without_spaces() {
        let ok = check_chat_identity(&ChatIdentity {
            mobile: "+86 138-0000-0001".into(),
            wecom_userid: " zhang.san ".into(),
            feishu_open_id: "ou_7d8a6e6df7621556ce0d21922b676706".into(),
        })
        .unwrap();
        assert_eq!((ok.mobile.as_str(), ok.wecom_userid.as_str()), ("+8613800000001", "zhang.san"));
        assert_eq!(problem(ChatIdentity::default()), None, "all may be empty");
        let with = |f: fn(&mut ChatIdentity)| {
            let mut i = ChatIdentity::default();
            f(&mut i);
            problem(i)
        };
        assert_eq!(with(|i| i.mobile = "1234".into()), Some("mobile".into()));
        assert_eq!(with(|i| i.mobile = "@all".into()), Some("mobile".into()));
        assert_eq!(with(|i| i.wecom_userid = "<@all>".into()), Some("wecom_userid".into()));
        assert_eq!(with(|i| i.feishu_open_id = "ou_".into()), Some("feishu_open_id".into()));
        assert_eq!(with(|i| i.feishu_open_id = "all".into()), Some("feishu_open_id".into()));
    }
}
