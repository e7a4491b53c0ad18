//! Headless Chromium for end-to-end tests, driven through chromedriver's
//! W3C WebDriver HTTP API with reqwest (no browser crate).
//!
//! Use from a test file with
//! `#[path = "common/browser.rs"] mod browser;` and
//! `let Some(b) = browser::Browser::start().await else { return };` —
//! `start` prints why it skips when Debian's `chromium`/`chromium-driver`
//! are missing, and panics instead under `NINES_TEST_REQUIRE_ALL=1`.
//! Screenshots go to `$NINES_TEST_ARTEFACTS`, else `<target>/screenshots`.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub mod keys {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SPACE: &str = "\u{E00D}";
    pub const SHIFT: &str = "\u{E008}";
}

pub struct Browser {
    driver: Child,
    url: String,
    session: String,
    http: reqwest::Client,
    profile: PathBuf,
    pub artefacts: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(name)).find(|p| p.is_file())
}

fn skip_or_fail(reason: &str) {
    if std::env::var("NINES_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("headless Chromium is required (NINES_TEST_REQUIRE_ALL=1): {reason}");
    }
    eprintln!("SKIP browser test: {reason} (apt-get install chromium chromium-driver)");
}

/// Where screenshots and other artefacts go.
pub fn artefact_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NINES_TEST_ARTEFACTS") {
        return PathBuf::from(d);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("screenshots")
}

fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

impl Browser {
    /// Start chromedriver and a headless Chromium session, or None (skip).
    pub async fn start() -> Option<Browser> {
        Self::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium arguments (a host name mapped
    /// to loopback: `--host-resolver-rules=MAP status.example 127.0.0.1`).
    pub async fn start_with(extra: &[String]) -> Option<Browser> {
        let Some(driver_bin) = on_path("chromedriver") else {
            skip_or_fail("chromedriver is not installed");
            return None;
        };
        let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .or_else(|| on_path("chromium"));
        let Some(chromium) = chromium else {
            skip_or_fail("chromium is not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{url}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not become ready on {url}");
        let profile = std::env::temp_dir().join(format!("nines-chromium-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&profile).unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .chain(extra.iter().cloned())
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.to_string_lossy(), "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let mut b = Browser { driver, url, session: String::new(), http, profile, artefacts: artefact_dir() };
        let v = b.call(reqwest::Method::POST, "/session", Some(caps)).await;
        b.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {v}")).to_string();
        std::fs::create_dir_all(&b.artefacts).unwrap();
        Some(b)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if let Some(err) = v["value"]["error"].as_str() {
            panic!("WebDriver {path}: {err}: {}", v["value"]["message"]);
        }
        v["value"].clone()
    }

    async fn s(&self, method: reqwest::Method, tail: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{tail}", self.session), body).await
    }

    pub async fn goto(&self, url: &str) {
        self.s(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub async fn current_url(&self) -> String {
        self.s(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_string()
    }

    pub async fn source(&self) -> String {
        self.s(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_string()
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its value.
    pub async fn exec(&self, script: &str, args: Vec<Value>) -> Value {
        self.s(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// The element matching `css`, if any (no waiting).
    pub async fn find(&self, css: &str) -> Option<String> {
        let v = self.s(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        // the W3C element reference is the one value of the object
        let el = v.as_array()?.first()?.as_object()?;
        el.get(ELEMENT).or_else(|| el.values().next())?.as_str().map(str::to_string)
    }

    /// Wait up to 10 s for `css` to match.
    pub async fn wait_for(&self, css: &str) -> String {
        for _ in 0..200 {
            if let Some(e) = self.find(css).await {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let src = self.source().await;
        panic!("no element {css:?} on {}: {}", self.current_url().await, &src[..src.len().min(3000)]);
    }

    /// Wait up to 10 s for the first match of `css` to read `want`, and
    /// return what it read last. After a click that loads another page the
    /// old page's element can still match for a moment; this reads the
    /// text in the page itself, so a page swapped mid-read is read again
    /// rather than reported as a stale element.
    pub async fn wait_for_text(&self, css: &str, want: &str) -> String {
        let mut last = String::new();
        for _ in 0..200 {
            let v = self
                .exec(
                    "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                    vec![json!(css)],
                )
                .await;
            if let Some(t) = v.as_str() {
                last = t.trim().to_string();
                if last == want {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last
    }

    pub async fn click(&self, el: &str) {
        self.s(reqwest::Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    pub async fn type_into(&self, el: &str, text: &str) {
        self.s(reqwest::Method::POST, &format!("/element/{el}/value"), Some(json!({"text": text}))).await;
    }

    pub async fn text(&self, el: &str) -> String {
        self.s(reqwest::Method::GET, &format!("/element/{el}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Press keys on whatever has the focus, as a keyboard would.
    pub async fn press(&self, keys: &[&str]) {
        let mut actions = Vec::new();
        for k in keys {
            actions.push(json!({"type": "keyDown", "value": k}));
            actions.push(json!({"type": "keyUp", "value": k}));
        }
        self.s(
            reqwest::Method::POST,
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        )
        .await;
    }

    /// A short description of the focused element (tag, class, text).
    pub async fn focused(&self) -> String {
        self.exec(
            "var e = document.activeElement; return e ? (e.tagName.toLowerCase() + '|' + (e.className || '') + '|' + (e.textContent || '').trim().slice(0, 80)) : '';",
            vec![],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Console messages of level SEVERE since the last call (errors,
    /// failed loads, CSP violations).
    pub async fn console_errors(&self) -> Vec<String> {
        let v = self.s(reqwest::Method::POST, "/se/log", Some(json!({"type": "browser"}))).await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Save a PNG of the viewport as `<artefacts>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.s(reqwest::Method::GET, "/screenshot", None).await;
        let png = b64decode(v.as_str().unwrap_or_default());
        assert!(png.starts_with(b"\x89PNG"), "screenshot is a PNG");
        let path = self.artefacts.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// The value of cookie `name` (HttpOnly ones too: WebDriver sees them).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let v = self.s(reqwest::Method::GET, &format!("/cookie/{name}"), None).await;
        v["value"].as_str().map(str::to_string)
    }

    /// Forget every cookie (sign out without the page's button).
    pub async fn clear_cookies(&self) {
        self.s(reqwest::Method::DELETE, "/cookie", None).await;
    }

    /// The window's size in CSS pixels.
    pub async fn set_size(&self, width: u32, height: u32) {
        self.s(reqwest::Method::POST, "/window/rect", Some(json!({"width": width, "height": height}))).await;
    }

    /// `prefers-color-scheme: dark` (or light) for the pages, as a system
    /// setting would give it (Chrome DevTools' media emulation).
    pub async fn dark(&self, on: bool) {
        let v = if on { "dark" } else { "light" };
        self.s(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": [{"name": "prefers-color-scheme", "value": v}]}})),
        )
        .await;
    }

    /// End the session (Chromium exits) and chromedriver.
    pub async fn quit(mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.url, self.session)).send().await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // a panicking test: close the session synchronously so Chromium exits
            use std::io::{Read, Write};
            let addr = self.url.trim_start_matches("http://").to_string();
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = write!(
                    s,
                    "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.session
                );
                let _ = s.read(&mut [0u8; 512]);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

#[test]
fn base64_decodes() {
    assert_eq!(b64decode("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(b64decode("iVBORw=="), b"\x89PNG");
}

// ---- acting through the dashboard's forms (tests/manage*.rs)

pub async fn sign_in(b: &Browser, base: &str, key: &str) {
    b.clear_cookies().await;
    b.goto(&format!("{base}/ui/login")).await;
    let k = b.wait_for("input#key").await;
    b.type_into(&k, key).await;
    b.click(&b.find("form button[type=submit]").await.unwrap()).await;
    b.wait_for("header .who").await;
}

/// Submit `form` (its `button[type=submit]`, or `button`), confirming any
/// question, and wait for the page to reload or an error to show.
pub async fn submit(b: &Browser, form: &str, button: Option<&str>) {
    b.exec("window.confirm = function () { return true; }; window.__before = performance.timeOrigin;", vec![]).await;
    let sel = button.map(str::to_string).unwrap_or_else(|| format!("#{form} button[type=submit]"));
    let btn = b.wait_for(&sel).await;
    b.click(&btn).await;
}

/// Wait until the page was reloaded (after a successful action).
pub async fn reloaded(b: &Browser) {
    for _ in 0..200 {
        let same = b.exec("return window.__before === performance.timeOrigin;", vec![]).await;
        if same == json!(false) || same.is_null() {
            b.wait_for("main#main").await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let said = b.exec("return Array.from(document.querySelectorAll('.form-error, .field-error')).map(e => e.id + ':' + e.textContent).join(' | ');", vec![]).await;
    panic!("the page did not reload: {said} {:?}", b.console_errors().await);
}

/// The error shown at a field (waits for it).
pub async fn field_error(b: &Browser, id: &str) -> String {
    let el = b.wait_for(&format!("#{id}-err:not([hidden])")).await;
    let invalid =
        b.exec(&format!("return document.getElementById('{id}').getAttribute('aria-invalid');"), vec![]).await;
    assert_eq!(invalid, json!("true"), "the field is marked invalid");
    b.text(&el).await
}

pub async fn set_value(b: &Browser, id: &str, v: &str) {
    b.exec("var e = document.getElementById(arguments[0]); e.value = arguments[1];", vec![json!(id), json!(v)]).await;
}
