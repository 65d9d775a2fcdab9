//! The incident page, mobile first: header, progress strip, owners, my actions, records, timeline.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{
    actions::{gate_form, reassign_form, FormCtx, Prefill},
    timeline::{HandoverCard, ReviewCard, Timeline},
    SeverityBadge, StageBadge, TimeIn,
};
use crate::{
    auth::Role,
    clock::LocalTime,
    enhance::Enhance,
    forms::{FieldError, FormError},
    i18n::{fill, use_i18n},
    workflow::{
        labels,
        rules::{self, ActionKind, Plan, Resolution, Stage},
        timeline::current_verdicts,
        views::IncidentDetail,
        ClaimRole,
    },
};

/// The page of one incident, at `/incidents/:key`.
#[component]
pub fn IncidentPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || params.read().get("key").unwrap_or_default();
    // The route renders `Async`, so the <title> naming the incident is in the head.
    let incident = Resource::new(key, crate::workflow::get_incident);
    // Awaited without a <Suspense>: the route renders whole before it is sent (`SsrMode::Async`),
    // so there is no fallback to show, and a <Suspense> builds its children again on each of its
    // passes (three builds of the whole page per request, each with its own forms).
    view! {
        {Suspend::new(async move {
            match incident.await {
                Err(error) => view! { <crate::shell::LoadError error /> }.into_any(),
                Ok(detail) => view! { <IncidentView detail /> }.into_any(),
            }
        })}
    }
}

const ROLE_ORDER: [Role; 4] = [Role::Ops, Role::Pm, Role::Dev, Role::Qa];

/// Triage as one question: the answer shows its form (by CSS alone, so it works without
/// JavaScript; a browser without `:has` shows both forms).
#[component]
fn TriageQuestion(forms: AnyView) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <div class="triage">
            // Not inside a form: the answer only chooses which form to show.
            <fieldset class="card field checks triage__question">
                <legend>{move || i18n.t().triage_question}</legend>
                <label class="check">
                    <input type="radio" name="triage-kind" id="triage-yes" value="technical" />
                    <span>{move || i18n.t().triage_yes}</span>
                </label>
                <label class="check">
                    <input type="radio" name="triage-kind" id="triage-no" value="non_technical" />
                    <span>{move || i18n.t().triage_no}</span>
                </label>
            </fieldset>
            {forms}
        </div>
    }
    .into_any()
}

#[component]
fn IncidentView(detail: IncidentDetail) -> impl IntoView {
    let i18n = use_i18n();
    // The choices of the forms below that name a person.
    provide_context(detail.staff.clone());
    let s = detail.summary.clone();
    let ctx = FormCtx { id: s.id, version: s.version };
    let stage = s.stage;
    let current_index = Stage::ALL.iter().position(|x| *x == stage).unwrap_or(0);
    let (pm_seen, dev_seen) = current_verdicts(&detail.timeline);
    let prefill = Prefill {
        pm_verdict: detail.verdicts.0,
        pm_pool: pm_seen.as_ref().and_then(|s| s.pool.clone()),
        dev_verdict: detail.verdicts.1,
    };
    // Triage is one question (technical?) that shows the form of the answer; every other action
    // is its own form.
    let triage = [ActionKind::TriageTechnical, ActionKind::TriageNonTechnical];
    let triaging = triage.iter().all(|k| detail.my_actions.contains(k));
    let forms = if triaging {
        let forms = triage.into_iter().map(|kind| gate_form(kind, ctx, &prefill)).collect_view().into_any();
        let rest = detail
            .my_actions
            .iter()
            .filter(|k| !triage.contains(k))
            .map(|kind| gate_form(*kind, ctx, &prefill))
            .collect_view();
        view! { <TriageQuestion forms /> {rest} }.into_any()
    } else {
        detail.my_actions.iter().map(|kind| gate_form(*kind, ctx, &prefill)).collect_view().into_any()
    };
    // Both judges see the proposal and each other's verdict above their own form.
    let review = (stage == Stage::SolutionReview).then(|| {
        view! {
            <ReviewCard
                facts=detail.facts.clone()
                verdicts=detail.verdicts
                seen=(pm_seen, dev_seen)
                pm=detail.owner_names[1].clone()
                dev=detail.owner_names[2].clone()
            />
        }
    });
    let has_actions = !detail.my_actions.is_empty();
    // What the previous owner handed over: the newest entry that moved the incident here. Not in
    // solution review (its card shows the proposal), nor at the ends of the process.
    let handover = (!matches!(stage, Stage::Reported | Stage::SolutionReview | Stage::Closed))
        .then(|| detail.timeline.iter().find(|e| e.to == stage && e.from != e.to).cloned())
        .flatten()
        .map(|entry| {
            let t = i18n.t();
            let mut extra: Vec<(&'static str, String)> = Vec::new();
            if stage == Stage::Fixing && !detail.facts.root_cause.is_empty() {
                extra.push((t.field_root_cause, detail.facts.root_cause.clone()));
                extra.push((t.field_solution, detail.facts.solution.clone()));
            }
            if stage == Stage::UserFollowup {
                extra.push((t.field_reporter_name, detail.reporter_name.clone()));
                extra.push((t.field_reporter_contact, detail.reporter_contact.clone()));
                extra.push((t.field_channel, labels::channel(s.channel, t).to_owned()));
            }
            extra.retain(|(_, v)| !v.trim().is_empty());
            view! { <HandoverCard entry people=detail.people.clone() extra /> }
        });
    let claim = ServerAction::<ClaimRole>::new();
    // Who holds the baton now, for users with nothing to do.
    let waiting = stage
        .owner_roles()
        .iter()
        .map(|role| {
            let idx = ROLE_ORDER.iter().position(|r| r == role).unwrap_or(0);
            (*role, detail.owner_names[idx].clone())
        })
        .collect::<Vec<_>>();
    let entered = s.stage_entered_at.clone();
    // "Step 4 of 11 · Solution review · waiting for you": closed is the end, not a step.
    let progress_line = {
        let t = i18n.t();
        let stage_name = labels::stage(stage, t);
        if stage == Stage::Closed {
            stage_name.to_owned()
        } else {
            let step = fill(
                t.progress_step,
                &[("n", &(current_index + 1).to_string()), ("total", &(Stage::ALL.len() - 1).to_string())],
            );
            let whose = if has_actions {
                t.progress_yours.to_owned()
            } else {
                let names: Vec<String> = waiting
                    .iter()
                    .map(|(role, person)| {
                        person.as_ref().map(|p| p.name.clone()).unwrap_or_else(|| role.label(t).to_owned())
                    })
                    .collect();
                fill(t.progress_theirs, &[("name", &names.join(", "))])
            };
            format!("{step} · {stage_name} · {whose}")
        }
    };
    // Ops waiting for the user's answer in follow-up may stop the clock (and start it again).
    let pause = (stage == Stage::UserFollowup && detail.my_actions.contains(&ActionKind::ConfirmFollowup))
        .then(|| s.clock.as_ref().map(|c| c.paused))
        .flatten()
        .map(|paused| view! { <PauseForm ctx paused /> });
    let non_technical = detail.resolution == Some(Resolution::NonTechnical);
    let resolution = detail.resolution.map(|r| match r {
        Resolution::Fixed => (i18n.t().resolution_fixed, "resolution resolution--fixed"),
        Resolution::NonTechnical => (i18n.t().resolution_non_technical, "resolution resolution--non-technical"),
    });
    view! {
        <Title text=format!("{} {}", s.key, s.title) />
        // Marks what the page shows, so a live update redraws it once another user moves it on.
        <article class="incident" aria-labelledby="incident-title" data-live-incident=s.id data-live-version=s.version data-live-activity=detail.activity>
            <header class="incident__head">
                <p class="incident-key">{s.key.clone()}</p>
                <h1 id="incident-title">{s.title.clone()}</h1>
                <p class="incident__badges">
                    <SeverityBadge severity=s.severity />
                    " "
                    <StageBadge stage=stage />
                    " "
                    <span class="hint"><TimeIn template=i18n.t().incident_time_in_stage at=entered /></span>
                    " "
                    <crate::clocks::ClockBadge clock=s.clock.clone() />
                </p>
                {resolution.map(|(text, class)| view! { <p class=class data-resolution="">{text}</p> })}
            </header>

            // One line on a phone: which step of how many, and whose turn; the stages open on tap.
            <nav aria-label=move || i18n.t().incident_progress>
                <details class="progress-summary">
                    <summary>
                        <span class="progress-summary__line" data-progress-line="">{progress_line}</span>
                        <progress max=Stage::ALL.len() - 1 value=current_index aria-hidden="true"></progress>
                    </summary>
                <ol class="progress">
                    {Stage::ALL.into_iter().enumerate().map(|(i, st)| {
                        // A report answered at triage went straight from reported to closed: the
                        // stages between were never worked, so they are shown as skipped.
                        let skipped = non_technical && i > 0 && i < current_index;
                        let state = if i == current_index {
                            "current"
                        } else if skipped {
                            "skipped"
                        } else if i < current_index {
                            "done"
                        } else {
                            "ahead"
                        };
                        view! {
                            <li class=format!("progress__step progress__step--{state}") aria-current=(i == current_index).then_some("step")>
                                <span>{move || labels::stage(st, i18n.t())}</span>
                            </li>
                        }
                    }).collect_view()}
                </ol>
                </details>
            </nav>

            {review}
            {handover}

            <section class="incident__actions" aria-labelledby="your-action">
                <h2 id="your-action">{move || i18n.t().incident_your_action}</h2>
                {pause}
                {if has_actions {
                    forms.into_any()
                } else if stage == Stage::Closed {
                    view! { <p class="notice">{move || i18n.t().incident_closed}</p> }.into_any()
                } else {
                    waiting.into_iter().map(|(role, person)| {
                        let name = person.map(|p| p.name);
                        view! {
                            <p class="notice baton-holder">
                                {move || fill(i18n.t().incident_waiting_for, &[
                                    ("role", role.label(i18n.t())),
                                    ("name", name.as_deref().unwrap_or(i18n.t().incident_unowned)),
                                ])}
                            </p>
                        }
                    }).collect_view().into_any()
                }}
            </section>

            <section class="card" aria-labelledby="owners-heading">
                <h2 id="owners-heading">{move || i18n.t().incident_owners}</h2>
                <dl class="owners">
                    {ROLE_ORDER.into_iter().enumerate().map(|(i, role)| {
                        let person = detail.owner_names[i].clone();
                        // The rule book decided on the server (`rules::may_claim`, `may_reassign`);
                        // the page only shows it.
                        let claimable = detail.claimable.contains(&role);
                        let reassign = detail.reassignable.contains(&role).then(|| reassign_form(role, ctx));
                        view! {
                            <div class="owners__row">
                                <dt>{move || role.label(i18n.t())}</dt>
                                <dd>
                                    {person.map(|p| p.name).unwrap_or_else(|| i18n.t().incident_unowned.to_owned())}
                                    {claimable.then(|| view! {
                                        <Enhance>
                                            <ActionForm action=claim>
                                                <input type="hidden" name="incident_id" value=ctx.id />
                                                <input type="hidden" name="version" value=ctx.version />
                                                <input type="hidden" name="role" value=role.as_str() />
                                                <FormError error=Signal::derive(move || claim.value().get().and_then(|r| r.err())) />
                                                <button type="submit" class="button button--secondary button--small">{move || i18n.t().incident_claim}</button>
                                            </ActionForm>
                                        </Enhance>
                                    })}
                                    {reassign}
                                </dd>
                            </div>
                        }
                    }).collect_view()}
                </dl>
            </section>

            <section class="card" aria-labelledby="record-heading">
                <h2 id="record-heading">{move || i18n.t().field_description}</h2>
                <p class="prewrap">{detail.description.clone()}</p>
                <p class="hint">
                    // Who reported it, when known (intake and phone reports often carry no name).
                    {(!detail.reporter_name.trim().is_empty() || !detail.reporter_contact.trim().is_empty()).then(|| {
                        let who = format!("{} {}", detail.reporter_name.trim(), detail.reporter_contact.trim()).trim().to_owned();
                        view! { {move || i18n.t().incident_reporter} {move || i18n.t().colon} {who} " · " }
                    })}
                    {move || labels::channel(s.channel, i18n.t())}
                </p>
                // From the second round on: the first fix is the normal case.
                {(detail.fix_round > 0).then(|| {
                    let n = rules::fix_round(detail.fix_round).to_string();
                    view! { <p>{move || fill(i18n.t().incident_round, &[("n", &n)])}</p> }
                })}
                // In solution review the proposal is in the review card above, once.
                {(!detail.facts.root_cause.is_empty() && stage != Stage::SolutionReview).then(|| {
                    let (cause, solution) = (detail.facts.root_cause.clone(), detail.facts.solution.clone());
                    view! {
                        <p><strong>{move || i18n.t().field_root_cause} {move || i18n.t().colon}</strong><span class="prewrap">{cause}</span></p>
                        <p><strong>{move || i18n.t().field_solution} {move || i18n.t().colon}</strong><span class="prewrap">{solution}</span></p>
                    }
                })}
                {detail.plan.map(|plan| {
                    let pool = detail.pool_item.clone();
                    view! {
                        <p>
                            <strong>{move || i18n.t().incident_plan} {move || i18n.t().colon}</strong>
                            {move || match plan {
                                Plan::Interim => i18n.t().incident_plan_interim,
                                Plan::Optimal => i18n.t().incident_plan_optimal,
                            }}
                            // The item's live status: whether the optimal solution has shipped since.
                            {pool.map(|p| {
                                let href = format!("/pool/{}", p.id);
                                let status = p.status;
                                let release = (!p.target_release.is_empty()).then(|| format!(" · {}", p.target_release));
                                view! {
                                    " — " <a href=href>{p.title}</a> " "
                                    <span class="badge">{move || labels::pool_status(status, i18n.t())}</span>
                                    {release}
                                }
                            })}
                        </p>
                    }
                })}
                {(!detail.facts.release_version.is_empty()).then(|| {
                    let v = detail.facts.release_version.clone();
                    let at = detail.facts.deployed_at.clone().map(|at| view! { " · " <LocalTime at /> });
                    view! { <p><strong>{move || i18n.t().incident_release} {move || i18n.t().colon}</strong> {v} {at}</p> }
                })}
            </section>

            <crate::collab::Attachments key=s.key.clone() files=detail.attachments.clone() max_bytes=detail.attachment_max_bytes />
            {(stage == Stage::Closed).then(|| view! { <crate::insight::IncidentMeasures incident_id=s.id /> })}
            {detail.report.clone().map(|email| view! { <crate::mail::ReportCopy email /> })}

            <crate::clocks::StageTimes stays=detail.stays.clone() />
            <crate::collab::CommentForm incident_id=s.id />
            <Timeline entries=detail.timeline people=detail.people comments=detail.comments />
        </article>
    }
}

/// Pauses the stage clock while ops waits for the user, or resumes it.
#[component]
fn PauseForm(ctx: FormCtx, paused: bool) -> impl IntoView {
    let i18n = use_i18n();
    let t = i18n.t();
    if paused {
        let resume = ServerAction::<crate::clocks::ResumeClock>::new();
        let error = Signal::derive(move || resume.value().get().and_then(|r| r.err()));
        view! {
            <div class="card clock-pause" data-clock-paused="">
                <p class="notice">{t.clock_paused_note}</p>
                <Enhance>
                    <ActionForm action=resume>
                        <input type="hidden" name="incident_id" value=ctx.id />
                        <input type="hidden" name="version" value=ctx.version />
                        <FormError error />
                        <button type="submit" class="button button--secondary">{t.clock_resume_submit}</button>
                    </ActionForm>
                </Enhance>
            </div>
        }
        .into_any()
    } else {
        let pause = ServerAction::<crate::clocks::PauseClock>::new();
        let error = Signal::derive(move || pause.value().get().and_then(|r| r.err()));
        view! {
            <details class="card clock-pause">
                <summary>{t.clock_pause_heading}</summary>
                <Enhance>
                    <ActionForm action=pause>
                        <input type="hidden" name="incident_id" value=ctx.id />
                        <input type="hidden" name="version" value=ctx.version />
                        <FormError error />
                        <div class="field">
                            <label for="pause-reason">{t.field_reason}</label>
                            <input type="text" id="pause-reason" name="reason" required maxlength="2000" aria-describedby="err-pause-reason" />
                            <FieldError error field="reason" id="err-pause-reason" />
                        </div>
                        <button type="submit" class="button button--secondary">{t.clock_pause_submit}</button>
                    </ActionForm>
                </Enhance>
            </details>
        }
        .into_any()
    }
}
