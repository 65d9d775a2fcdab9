//! The comment form and a comment in the incident's timeline.

use leptos::prelude::*;

use super::{AddComment, CommentView, EditComment, HideComment, EDIT_MINUTES, MAX_COMMENT};
use crate::{
    clock::LocalTime,
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::{fill, use_i18n},
};

/// "Add a comment", above the timeline: plain text with a little Markdown and @-mentions.
#[component]
pub fn CommentForm(incident_id: i64) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let add = ServerAction::<AddComment>::new();
    let error = Signal::derive(move || add.value().get().and_then(|r| r.err()));
    view! {
        <section class="card comment-form" aria-labelledby="comment-heading">
            <h2 id="comment-heading">{t.comment_heading}</h2>
            <Enhance>
                <ActionForm action=add>
                    <input type="hidden" name="incident_id" value=incident_id />
                    <FormError error />
                    <div class="field">
                        <label class="visually-hidden" for="comment-body">{t.comment_heading}</label>
                        <textarea id="comment-body" name="body" rows="3" required maxlength=MAX_COMMENT
                            aria-describedby="comment-hint err-comment-body" placeholder=t.comment_placeholder></textarea>
                        <p class="hint" id="comment-hint">{t.comment_hint}</p>
                        <FieldError error field="body" id="err-comment-body" />
                    </div>
                    <button type="submit" class="button button--secondary">{t.comment_submit}</button>
                    " " <a class="comment-form__attach" href="#attachments">{t.comment_attach}</a>
                </ActionForm>
            </Enhance>
        </section>
    }
}

/// One comment among the timeline's entries: its text, and the author's edit form or an admin's
/// hide form when they may use them. A hidden comment shows only who hid it.
#[component]
pub fn CommentItem(comment: CommentView) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let id = comment.id;
    let anchor = format!("comment-{id}");
    let author = comment.author.name.clone();
    if let Some(hidden) = comment.hidden {
        let by = fill(t.comment_hidden_by, &[("name", &hidden.by)]);
        let reason = (!hidden.reason.is_empty()).then(|| {
            view! { <p class="hint">{t.field_reason} {t.colon} {hidden.reason}</p> }
        });
        return view! {
            <li class="timeline__entry timeline__comment comment--hidden" id=anchor data-comment=id data-hidden="">
                <p class="timeline__head"><LocalTime at=comment.at ago=true /></p>
                <p class="timeline__what"><strong>{author}</strong> " · " {t.comment_word}</p>
                <p class="notice">{by} " · " <LocalTime at=hidden.at /></p>
                {reason}
            </li>
        }
        .into_any();
    }
    let edited = comment.edited_at.map(|at| view! { " · " <span class="hint" title=at>{t.comment_edited}</span> });
    let edit = comment.may_edit.then(|| {
        let action = ServerAction::<EditComment>::new();
        let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
        let field = format!("comment-edit-{id}");
        let err_id = format!("err-comment-edit-{id}");
        let hint = fill(t.comment_edit_hint, &[("minutes", &EDIT_MINUTES.to_string())]);
        view! {
            <details class="comment__tool">
                <summary>{t.comment_edit}</summary>
                <Enhance>
                    <ActionForm action>
                        <input type="hidden" name="comment_id" value=id />
                        <FormError error />
                        <div class="field">
                            <label for=field.clone()>{t.comment_edit}</label>
                            <textarea id=field name="body" rows="3" required maxlength=MAX_COMMENT aria-describedby=err_id.clone()>{comment.body}</textarea>
                            <p class="hint">{hint}</p>
                            <FieldError error field="body" id=err_id />
                        </div>
                        <button type="submit" class="button button--secondary button--small">{t.comment_edit_submit}</button>
                    </ActionForm>
                </Enhance>
            </details>
        }
    });
    let hide = comment.may_hide.then(|| {
        let action = ServerAction::<HideComment>::new();
        let error = Signal::derive(move || action.value().get().and_then(|r| r.err()));
        let field = format!("comment-hide-{id}");
        let err_id = format!("err-comment-hide-{id}");
        view! {
            <details class="comment__tool">
                <summary>{t.comment_hide}</summary>
                <Enhance>
                    <ActionForm action>
                        <input type="hidden" name="comment_id" value=id />
                        <FormError error />
                        <div class="field">
                            <label for=field.clone()>{t.comment_hide_reason}</label>
                            <input type="text" id=field name="reason" required maxlength="2000" aria-describedby=err_id.clone() />
                            <FieldError error field="reason" id=err_id />
                        </div>
                        <button type="submit" class="button button--danger button--small">{t.comment_hide_submit}</button>
                    </ActionForm>
                </Enhance>
            </details>
        }
    });
    view! {
        <li class="timeline__entry timeline__comment" id=anchor data-comment=id>
            <p class="timeline__head"><LocalTime at=comment.at ago=true />{edited}</p>
            <p class="timeline__what"><strong>{author}</strong> " · " {t.comment_word}</p>
            // Rendered from Markdown and sanitised on the server when it was written (`markdown`).
            <div class="comment__body" inner_html=comment.html></div>
            {(!comment.files.is_empty()).then(|| view! { <FileList files=comment.files /> })}
            {edit}
            {hide}
        </li>
    }
    .into_any()
}

/// The files posted with a comment: thumbnails for images, links for the rest.
#[component]
fn FileList(files: Vec<super::AttachmentView>) -> impl IntoView {
    view! {
        <ul class="comment__files">
            {files.into_iter().map(|f| {
                let size = super::human_size(f.size);
                let inner = if f.image {
                    let thumb = format!("/attachments/{}/thumb", f.id);
                    view! { <img src=thumb alt=f.name.clone() loading="lazy" /> }.into_any()
                } else {
                    view! { <span>{f.name.clone()} " · " {size}</span> }.into_any()
                };
                view! { <li data-attachment=f.id><a href=f.href() download=(!f.image).then(|| f.name.clone())>{inner}</a></li> }
            }).collect_view()}
        </ul>
    }
}

/// The incident's files: images as thumbnails that open the full picture, other files as links
/// that download; and the upload form, a plain multipart form (it works without script).
#[component]
pub fn Attachments(key: String, files: Vec<super::AttachmentView>, max_bytes: i64) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    let (images, others): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| f.image);
    let caption = move |f: &super::AttachmentView| {
        let size = super::human_size(f.size);
        match &f.by {
            Some(by) => fill(t.attachments_by, &[("name", &by.name), ("size", &size)]),
            None => fill(t.attachments_from_intake, &[("size", &size)]),
        }
    };
    let empty = images.is_empty() && others.is_empty();
    let hint = fill(t.attachments_hint, &[("size", &super::human_size(max_bytes))]);
    // Refusals of a plain post come on a page of their own; these slots are for the browser.
    let no_error = Signal::derive(|| None::<crate::error::AppError>);
    view! {
        <section class="card attachments" id="attachments" aria-labelledby="attachments-heading">
            <h2 id="attachments-heading">{t.attachments_heading}</h2>
            {empty.then(|| view! { <p class="hint">{t.attachments_none}</p> })}
            {(!images.is_empty()).then(|| view! {
                <ul class="attachments__images">
                    {images.into_iter().map(|f| {
                        let thumb = format!("/attachments/{}/thumb", f.id);
                        let line = caption(&f);
                        view! {
                            <li data-attachment=f.id>
                                <a href=f.href()>
                                    <img src=thumb alt=f.name.clone() loading="lazy" />
                                </a>
                                <span class="hint">{f.name.clone()} " · " {line}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            {(!others.is_empty()).then(|| view! {
                <ul class="attachments__files">
                    {others.into_iter().map(|f| {
                        let line = caption(&f);
                        view! {
                            <li data-attachment=f.id>
                                <a href=f.href() download=f.name.clone()>{f.name.clone()}</a>
                                " " <span class="hint">{line} " · " <LocalTime at=f.at.clone() /></span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            // Posts as a plain multipart form without script; once hydrated, `Enhance` sends it in
            // place with a progress bar and checks the sizes before sending (the server decides).
            <Enhance>
                <form class="attachments__form" method="post" action=format!("/incidents/{key}/attachments")
                    enctype="multipart/form-data" data-max-bytes=max_bytes>
                    <FormError error=no_error />
                    <div class="field">
                        <label for="attachment-file">{t.attachments_add}</label>
                        <input type="file" id="attachment-file" name="file" multiple required
                            aria-describedby="attachment-hint err-attachment-file" />
                        <p class="hint" id="attachment-hint">{hint}</p>
                        <FieldError error=no_error field="file" id="err-attachment-file" />
                    </div>
                    <div class="field">
                        <label for="attachment-comment">{t.attachments_note}</label>
                        <textarea id="attachment-comment" name="comment" rows="2" maxlength=MAX_COMMENT
                            aria-describedby="attachment-note-hint err-attachment-comment"></textarea>
                        <p class="hint" id="attachment-note-hint">{t.attachments_note_hint}</p>
                        <FieldError error=no_error field="comment" id="err-attachment-comment" />
                    </div>
                    <progress class="attachments__progress" max="100" value="0" hidden data-progress=""
                        aria-label=t.attachments_progress></progress>
                    <button type="submit" class="button button--secondary">{t.attachments_submit}</button>
                </form>
            </Enhance>
        </section>
    }
    .into_any()
}
