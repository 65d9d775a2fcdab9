//! The intake API against its own OpenAPI document on both databases: schemathesis (PyPI)
//! generates valid and invalid requests from the document and runs every check on the answers
//! (no server errors, statuses, content types, headers and bodies as documented, valid data
//! accepted, invalid data refused, authentication not ignored). One exception: an arbitrary
//! string is not an email message, and no schema can say which strings are, so the email endpoint
//! runs every check but "valid data is accepted" (the intake tests send it real messages).

use app::{db_test, intake::SourceChannel};

use crate::helpers::TestApp;

db_test!(async fn the_intake_api_keeps_its_openapi_contract(ctx) {
    let settings = [
        // The document promises answers to valid data: no rate limit or small body limit in the way.
        ("BATON_INTAKE_RATE_PER_MINUTE", "1000000"),
        ("BATON_ANONYMOUS_RATE_PER_SECOND", "100000"),
        ("BATON_MAX_BODY_BYTES", "1048576"),
    ];
    let app = TestApp::spawn_with(ctx.url.expose(), &settings).await;
    let origin = app::audit::store::Origin::system("test");
    let hooks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    for (path, channel, skipped) in [
        ("/api/v1/intake", SourceChannel::FeedbackSystem, None),
        ("/api/v1/intake/sms", SourceChannel::Sms, None),
        ("/api/v1/intake/email", SourceChannel::Email, Some("positive_data_acceptance")),
    ] {
        let token = app::intake::store::create(&app.db, &origin, None, path, channel.as_str(), chrono::Utc::now())
            .await
            .unwrap()
            .token;
        let mut run = tokio::process::Command::new("schemathesis");
        run.args(["run", &app.url("/api/v1/openapi.json"), "--checks", "all", "--include-path", path])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--max-examples", "100", "--seed", "20261203", "--no-color"])
            .env("PYTHONPATH", hooks)
            .env("SCHEMATHESIS_HOOKS", "contract_hooks");
        if let Some(check) = skipped {
            run.args(["--exclude-checks", check]);
        }
        let out = run
            .output()
            .await
            .expect("schemathesis runs (scripts/setup.sh --smtp-sink installs it)");
        let report = String::from_utf8_lossy(&out.stdout);
        if std::env::var_os("CONTRACT_REPORT").is_some() {
            println!("{report}");
        }
        assert!(out.status.success(), "{path} breaks its contract:\n{report}\n{}", String::from_utf8_lossy(&out.stderr));
    }
    app.stop().await;
});
