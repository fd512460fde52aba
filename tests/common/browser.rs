//! A headless Chromium for the console tests, driven over WebDriver by
//! `fantoccini` through a `chromedriver` started on a free port. Uses the
//! distribution's packages (`chromium`, `chromium-driver`); where they are
//! missing, [`Browser::start`] says so and returns `None` so the test skips.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a page may take to show what a step waits for.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn program(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

impl Browser {
    /// A fresh browser profile at 1280×800, or `None` (with a message) where
    /// Chromium or chromedriver is not installed.
    pub async fn start() -> Option<Browser> {
        let chromium = program("HOOKD_CHROMIUM", CHROMIUM);
        let chromedriver = program("HOOKD_CHROMEDRIVER", CHROMEDRIVER);
        if !Path::new(&chromium).exists() || !Path::new(&chromedriver).exists() {
            eprintln!(
                "SKIPPED: console browser tests need {} and {} (apt-get install chromium chromium-driver)",
                chromium.display(),
                chromedriver.display()
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                    "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        Some(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// Ends the session, which closes Chromium; chromedriver goes on drop.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// The first element matching an XPath, waiting for it to appear.
    pub async fn find(&self, xpath: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(xpath))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no element {xpath}: {e}\npage text:\n{}",
                self.text_now().await
            ),
        }
    }

    /// The button whose visible text is `text`.
    pub async fn button(&self, text: &str) -> Element {
        self.find(&format!("//button[normalize-space()='{text}']"))
            .await
    }

    /// Clicks the first element matching an XPath.
    pub async fn click(&self, xpath: &str) {
        self.find(xpath).await.click().await.expect("click");
    }

    /// Clicks the button whose visible text is `text`.
    pub async fn press(&self, text: &str) {
        self.button(text).await.click().await.expect("click");
    }

    /// Follows the menu link `page` and waits for that page's heading.
    pub async fn open(&self, page: &str) {
        self.click(&format!("//nav//a[normalize-space()='{page}']"))
            .await;
        self.find(&format!("//h1[normalize-space()='{page}']"))
            .await;
    }

    /// Presses Tab until the focused element reads `text` (at most `limit`
    /// times): proof that it is reachable by keyboard.
    pub async fn tab_to(&self, text: &str, limit: usize) -> Element {
        let tab = char::from(fantoccini::key::Key::Tab).to_string();
        for _ in 0..limit {
            let focused = self.client.active_element().await.expect("focus");
            focused.send_keys(&tab).await.expect("tab");
            let focused = self.client.active_element().await.expect("focus");
            if focused.text().await.unwrap_or_default().trim() == text {
                return focused;
            }
        }
        panic!("{text:?} is not reached within {limit} presses of Tab");
    }

    /// The control that the `<label>` reading `label` is for: finding it
    /// proves the label is tied to its control.
    pub async fn labelled(&self, label: &str) -> Element {
        self.find(&format!(
            "//*[@id=(//label[normalize-space()='{label}'])[last()]/@for]"
        ))
        .await
    }

    pub async fn fill(&self, label: &str, text: &str) {
        let control = self.labelled(label).await;
        control.clear().await.expect("clear");
        control.send_keys(text).await.expect("type");
    }

    async fn text_now(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Waits until the page's visible text contains `wanted`; returns it.
    pub async fn wait_text(&self, wanted: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text_now().await;
            if text.contains(wanted) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "page never showed {wanted:?}; it shows:\n{text}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `code` until it returns `wanted`; panics with the last answer.
    pub async fn wait_script(&self, code: &str, wanted: &Value) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = self.script(code).await;
            if &answer == wanted {
                return answer;
            }
            assert!(
                Instant::now() < deadline,
                "{code} gave {answer}, not {wanted}"
            );
            actix_web::rt::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn script(&self, code: &str) -> Value {
        self.client.execute(code, vec![]).await.expect("script")
    }

    /// Saves a PNG of the window under `$HOOKD_SCREENSHOTS` when that is set
    /// (the README's pictures come from here); does nothing otherwise.
    pub async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("HOOKD_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
