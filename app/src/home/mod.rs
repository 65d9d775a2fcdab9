//! The home page: what Baton does and how an incident travels.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    auth::{use_me, Role},
    i18n::{use_i18n, Strings},
    workflow::MyQueue,
};

/// The nine steps of the process, in order.
fn steps(t: &'static Strings) -> [&'static str; 9] {
    [
        t.home_step_1,
        t.home_step_2,
        t.home_step_3,
        t.home_step_4,
        t.home_step_5,
        t.home_step_6,
        t.home_step_7,
        t.home_step_8,
        t.home_step_9,
    ]
}

/// The landing page: my queue for people who work on incidents, the introduction otherwise.
#[component]
pub fn HomePage() -> impl IntoView {
    let works_incidents = use_me().is_some_and(|m| m.roles.iter().any(|r| *r != Role::Admin));
    // The queue names itself in the title; the introduction leaves the product name.
    if works_incidents {
        view! { <MyQueue /> }.into_any()
    } else {
        view! { <Introduction /> }.into_any()
    }
}

/// What Baton is and how an incident travels.
#[component]
fn Introduction() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <Title text="" />
        <section class="hero" aria-labelledby="home-heading">
            <h1 id="home-heading">{move || i18n.t().home_title}</h1>
            <p class="hero__lead">{move || i18n.t().home_lead}</p>
        </section>
        <section class="card rule" aria-labelledby="rule-heading">
            <h2 id="rule-heading">{move || i18n.t().home_rule_heading}</h2>
            <p>{move || i18n.t().home_rule_body}</p>
        </section>
        <section aria-labelledby="steps-heading">
            <h2 id="steps-heading">{move || i18n.t().home_steps_heading}</h2>
            <ol class="steps">
                {move || {
                    steps(i18n.t())
                        .into_iter()
                        .map(|step| view! { <li class="steps__item">{step}</li> })
                        .collect_view()
                }}
            </ol>
        </section>
    }
}
