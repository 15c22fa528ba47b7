//! Helpers for the console tests: sign in through the real form, then browse with the
//! session cookie like a browser would, and query pages by CSS selector.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use scraper::{Html, Selector};

use crate::common::{TestApp, body_bytes};

/// A signed-in browser: the session cookie and the page's CSRF token.
#[derive(Debug, Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

/// A fetched HTML page.
pub struct Page {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub html: Html,
    pub text: String,
}

impl Page {
    pub async fn from(response: Response<Body>) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let text = String::from_utf8(body_bytes(response).await).unwrap();
        Page {
            status,
            headers,
            html: Html::parse_document(&text),
            text,
        }
    }

    /// Every element matching `selector`, as trimmed text.
    pub fn texts(&self, selector: &str) -> Vec<String> {
        let sel =
            Selector::parse(selector).unwrap_or_else(|e| panic!("bad selector {selector}: {e:?}"));
        self.html
            .select(&sel)
            .map(|e| {
                e.text()
                    .collect::<String>()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    /// The text of the only element matching `selector`.
    pub fn one(&self, selector: &str) -> String {
        let texts = self.texts(selector);
        assert_eq!(
            texts.len(),
            1,
            "expected one `{selector}`, found {texts:?} in\n{}",
            self.text
        );
        texts.into_iter().next().unwrap()
    }

    pub fn count(&self, selector: &str) -> usize {
        self.texts(selector).len()
    }

    /// An attribute of the first element matching `selector`.
    pub fn attr(&self, selector: &str, attr: &str) -> Option<String> {
        let sel = Selector::parse(selector).unwrap();
        self.html
            .select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr).map(str::to_owned))
    }
}

/// The value of cookie `name` in a response's `Set-Cookie` headers, with the whole header.
pub fn set_cookie(
    response_headers: &axum::http::HeaderMap,
    name: &str,
) -> Option<(String, String)> {
    response_headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap().to_owned();
            (value, v.to_owned())
        })
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

/// Opens the sign-in page and returns (login-CSRF cookie, form token).
pub async fn sign_in_form(app: &TestApp) -> (String, String) {
    let response = app
        .send(
            Request::get("/console/sign-in")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    let (cookie, _) = set_cookie(response.headers(), "regent_sign_in").expect("sign-in cookie");
    let page = Page::from(response).await;
    let token = page
        .attr("#token-form input[name=form_token]", "value")
        .unwrap();
    (cookie, token)
}

/// Posts the sign-in form with `fields` (plus the form token) and returns the response.
pub async fn post_sign_in(app: &TestApp, fields: &[(&str, &str)]) -> Response<Body> {
    let (cookie, form_token) = sign_in_form(app).await;
    let mut all = vec![("form_token", form_token.as_str())];
    all.extend_from_slice(fields);
    app.send(
        Request::post("/console/sign-in")
            .header(header::COOKIE, format!("regent_sign_in={cookie}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form_body(&all)))
            .unwrap(),
    )
    .await
}

/// Signs in with `fields` and returns the browser (panics unless it worked).
pub async fn sign_in(app: &TestApp, fields: &[(&str, &str)]) -> Browser {
    let response = post_sign_in(app, fields).await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "sign-in failed: {}",
        Page::from(response).await.text
    );
    let (cookie, _) = set_cookie(response.headers(), "regent_session").expect("session cookie");
    let mut browser = Browser {
        cookie,
        csrf: String::new(),
    };
    let page = browser.get(app, "/console").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    browser.csrf = page
        .attr("form.sign-out input[name=csrf]", "value")
        .unwrap();
    browser
}

pub async fn sign_in_token(app: &TestApp, token: &str) -> Browser {
    sign_in(app, &[("token", token)]).await
}

impl Browser {
    pub async fn get(&self, app: &TestApp, uri: &str) -> Page {
        Page::from(self.get_raw(app, uri).await).await
    }

    pub async fn get_raw(&self, app: &TestApp, uri: &str) -> Response<Body> {
        app.send(
            Request::get(uri)
                .header(header::COOKIE, format!("regent_session={}", self.cookie))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Posts a form with this session's CSRF token added.
    pub async fn post(&self, app: &TestApp, uri: &str, fields: &[(&str, &str)]) -> Response<Body> {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(app, uri, &all).await
    }

    /// Posts exactly `fields` (no CSRF token added).
    pub async fn post_raw(
        &self,
        app: &TestApp,
        uri: &str,
        fields: &[(&str, &str)],
    ) -> Response<Body> {
        app.send(
            Request::post(uri)
                .header(header::COOKIE, format!("regent_session={}", self.cookie))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form_body(fields)))
                .unwrap(),
        )
        .await
    }
}

/// Asserts a 303 to the sign-in page.
pub fn assert_sign_in_redirect(response: &Response<Body>) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with("/console/sign-in"), "{location}");
}
