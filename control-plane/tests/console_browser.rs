//! A real headless Chromium drives the real server (in-process on 127.0.0.1:0, real Postgres)
//! through chromedriver's W3C WebDriver HTTP API: sign in, start a canary, promote, roll back,
//! browse the overview, persona, fleet and event pages, then the audit log: filter it, open one
//! decision and follow it to the exact policy revision. Screenshots go to `target/screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit_fixtures;
mod common;
#[path = "common/rollout.rs"]
mod helpers;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::TestApp;
use regent_control_plane::app;
use serde_json::{Value, json};
use sqlx::PgPool;

/// Kills chromedriver (and with it the browser) when the test ends, pass or fail.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_driver(http: &reqwest::Client) -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (Debian `chromium-driver`)");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().unwrap(),
    };
    // Ready when its status endpoint answers `ready: true`.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A WebDriver session.
struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    shots: PathBuf,
}

impl Browser {
    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if response["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", response["value"]);
        }
        response["value"].clone()
    }

    async fn open(&self, path: &str) {
        self.cmd(
            reqwest::Method::POST,
            "/url",
            Some(json!({"url": format!("{}{path}", self.base)})),
        )
        .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn count(&self, css: &str) -> usize {
        self.cmd(
            reqwest::Method::POST,
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        )
        .await
        .as_array()
        .unwrap()
        .len()
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn fill(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn url(&self) -> String {
        self.cmd(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
    }
}

#[sqlx::test(migrator = "regent_control_plane::store::MIGRATOR")]
async fn chromium_signs_in_and_runs_a_canary_promotion_and_rollback(pool: PgPool) {
    let test = TestApp::new(pool).await;
    let v1 = helpers::push_version(&test, 1).await;
    let v2 = helpers::push_version(&test, 2).await;
    let fleet = helpers::Fleet::new(&test, "tiny-bot", 24).await;
    fleet.report_active(&test).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app::router(test.state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let http = reqwest::Client::new();
    let driver = start_driver(&http).await;
    let created: Value = http
        .post(format!("{}/session", driver.url))
        .json(&json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--window-size=1366,900",
                         format!("--user-data-dir={}", driver._profile.path().display())]
            }
        }}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session_id = created["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("{created}"));
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let browser = Browser {
        http: http.clone(),
        session: format!("{}/session/{session_id}", driver.url),
        base,
        shots,
    };
    browser
        .cmd(
            reqwest::Method::POST,
            "/timeouts",
            Some(json!({"implicit": 5000, "pageLoad": 20000})),
        )
        .await;

    // Signed out: the console sends us to sign in, and back afterwards.
    browser.open("/console/personas/tiny-bot").await;
    assert!(browser.url().await.contains("/console/sign-in?next="));
    browser.screenshot("01-sign-in").await;
    browser.fill("#token", &test.publisher).await;
    browser.click("#token-form button[type=submit]").await;
    assert_eq!(browser.text("header .role").await, "publisher");
    assert!(browser.url().await.ends_with("/console/personas/tiny-bot"));
    browser.screenshot("02-persona").await;

    browser.open("/console").await;
    assert!(
        browser
            .text("tr[data-channel=prod] td.revision")
            .await
            .contains(&v1)
    );
    browser.screenshot("03-overview").await;

    // Start a canary of v2 on prod at 30%.
    browser.click("tr[data-channel=prod] th a").await;
    browser
        .click(&format!("#canary-revision option[value=\"{v2}\"]"))
        .await;
    browser.fill("#canary-percentage-input", "30").await;
    browser
        .fill("#canary-reason", "try the new tool list")
        .await;
    browser.click("#canary-form button[type=submit]").await;
    assert!(
        browser
            .text("#confirm-title")
            .await
            .contains("Start a canary")
    );
    assert!(browser.text(".changes").await.contains("at 30%"));
    browser.screenshot("04-confirm-canary").await;
    browser.click("#confirm-button").await;
    assert_eq!(browser.text("#canary-percentage").await, "30%");
    fleet.report_active(&test).await;
    browser
        .open("/console/personas/tiny-bot/channels/prod")
        .await;
    browser.screenshot("05-canary-running").await;

    // Promote.
    browser.click("#promote-form button[type=submit]").await;
    assert!(browser.text(".changes").await.contains(&v2));
    browser.click("#confirm-button").await;
    assert_eq!(browser.text("#channel-revision").await, v2);
    assert_eq!(browser.count("#canary").await, 0);

    // Roll back to v1 with a reason: a new revision 3 with v1's content.
    browser
        .click(&format!("#rollback-revision option[value=\"{v1}\"]"))
        .await;
    browser
        .fill("#rollback-reason", "v2 denies a needed tool")
        .await;
    browser.click("#rollback-form button[type=submit]").await;
    assert!(browser.text(".changes").await.contains(&v1));
    browser.screenshot("06-confirm-rollback").await;
    browser.click("#confirm-button").await;
    assert_eq!(browser.text("#channel-revision").await, "tiny-bot-3");
    assert!(browser.text("#changed").await.contains("rollback"));
    fleet.report_active(&test).await;
    assert!(fleet.all_on(&test, "tiny-bot-3").await);
    browser
        .open("/console/personas/tiny-bot/channels/prod")
        .await;
    browser.screenshot("07-after-rollback").await;

    browser.open("/console/events").await;
    let kinds = browser.text("table.events tbody").await;
    for kind in ["rollback", "rollout_promoted", "rollout_started"] {
        assert!(kinds.contains(kind), "{kind} in {kinds}");
    }
    browser.screenshot("08-events").await;
    // A few agents report their decision-log pipeline, as the Regent sidecar does.
    for (i, id) in fleet.ids.iter().take(6).enumerate() {
        let i = i as u64;
        let report = json!({
            "labels": {"id": id},
            "bundles": {"tiny-bot": {"name": "tiny-bot", "active_revision": "tiny-bot-3"}},
            "regent": {"agent_id": id, "persona": "tiny-bot",
                "last_error": if i == 5 { Some("registry 127.0.0.1:5000 unreachable") } else { None },
                "decision_logs": {"queue_length": i * 7, "queue_capacity": 10000,
                    "spool_events": if i == 5 { 1250 } else { 0 }, "spool_bytes": 0,
                    "delivered_events": 1000 + i,
                    "dropped": {"decision_logs_dropped_buffer_size_limit_exceeded": if i == 5 { 3 } else { 0 }}}}
        });
        let response = helpers::post(&test, "/status", &fleet.token, report).await;
        assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT.as_u16());
    }
    browser.open("/console/fleet").await;
    assert_eq!(
        browser
            .text("tr[data-agent=tiny-bot-agent-005] td.spool")
            .await,
        "1250"
    );
    assert_eq!(browser.count("table.fleet tbody tr").await, 24);
    browser.screenshot("09-fleet").await;
    browser.open("/console/personas/tiny-bot").await;
    browser.screenshot("10-persona-revisions").await;
    browser
        .open(&format!(
            "/console/personas/tiny-bot/diff?from={v1}&to={v2}"
        ))
        .await;
    browser.screenshot("11-diff").await;

    // The audit log: decisions logged by the agents, filtered to denials, one opened.
    let mut decisions = audit_fixtures::generate(40);
    for (i, d) in decisions.iter_mut().enumerate() {
        d.persona = "tiny-bot".into();
        d.agent = fleet.ids[i % fleet.ids.len()].clone();
        d.revision = if i % 2 == 0 {
            v1.clone()
        } else {
            "tiny-bot-3".into()
        };
    }
    audit_fixtures::store(&test, &decisions).await;
    let denied = decisions.iter().filter(|d| !d.allow).count();
    browser.click("nav a[href=\"/console/audit\"]").await;
    assert_eq!(
        browser.count("tr.decision-row").await,
        40,
        "one page holds them all"
    );
    browser.fill("#f-persona", "tiny-bot").await;
    browser.click("#f-allow option[value=deny]").await;
    browser.click("#f-apply").await;
    browser.find("#f-allow option[value=deny][selected]").await;
    assert!(browser.url().await.contains("allow=deny"));
    assert_eq!(browser.count("tr.decision-row").await, denied);
    assert_eq!(browser.count("tr.decision-row .badge-ok").await, 0);
    browser.screenshot("12-audit-filtered").await;
    browser.click("tr.decision-row a.decision-link").await;
    browser.find("#decision-facts").await;
    assert!(browser.url().await.contains("/console/audit/"));
    assert!(!browser.text("#decision-input").await.is_empty());
    browser.screenshot("13-decision").await;
    let revision = browser.text("#revision-link").await;
    browser.click("#revision-link").await;
    assert_eq!(browser.text("main h1").await, revision);

    // Sign out: the console is closed again.
    browser.click("form.sign-out button").await;
    // The sign-in form appears once the navigation finished (implicit wait).
    browser.find("#token-form").await;
    assert!(browser.url().await.contains("/console/sign-in"));
    browser.open("/console").await;
    assert!(browser.url().await.contains("/console/sign-in"));

    browser.cmd(reqwest::Method::DELETE, "", None).await;
    drop(driver);
    server.abort();
}
